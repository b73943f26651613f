// No health data, user ids or tokens in any log line. Plants sentinel values in requests to all
// three services (symptoms, a diagnosis code, a topic, a user id, a bearer token), then scans every
// log file the test suite produced (LEGWISE_TEST_LOG_DIR: this test's servers and every other
// integration test's servers and redis-servers) for them and for generic leaks.
#include <dirent.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "tests/support/process.h"

namespace legwise {
namespace {

using testing::RedisServer;
using testing::ServiceProcess;

constexpr char kUserSentinel[] = "sentinel-user-5d2c9";
constexpr char kTokenSentinel[] = "SENTINELTOKEN.eyJzZW50aW5lbCI6MX0.c2ln";

// Words that would mean a symptom, a diagnosis or a token reached a log.
const std::vector<std::string>& Forbidden() {
  static const auto* words = new std::vector<std::string>{
      kUserSentinel, "sentineltoken", "bearer ",    "eyj",  // tokens (JWTs start with eyJ)
      "swelling",    "tenderness",    "chest_pain", "chest pain", "shortness_of_breath",
      "coughing",    "headache",      "o22.33",     "o2233",      "128053003",
      "blood-clot",  "pre-eclampsia", "thrombosis", "embolism",   "cellulitis"};
  return *words;
}

std::vector<std::string> LogFiles() {
  std::vector<std::string> out;
  std::string dir = testing::LogDir();
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (absl::EndsWith(name, ".log")) out.push_back(absl::StrCat(dir, "/", name));
    }
    closedir(d);
  }
  return out;
}

template <typename Call>
void WithSentinelMetadata(Call call) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kTokenSentinel));
  call(&ctx);
  grpc::ClientContext plain;
  plain.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  call(&plain);
}

TEST(LogScanTest, NoHealthDataUserIdsOrTokensInAnyLog) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  ServiceProcess content("legwise-content",
                         {"--redis_addr=" + redis.address(), "--log_level=debug"});
  ASSERT_TRUE(content.Start().ok());
  ServiceProcess triage("legwise-triage",
                        {"--content_addr=" + content.address(), "--log_level=debug"});
  ASSERT_TRUE(triage.Start().ok());
  ServiceProcess reminder("legwise-reminder",
                          {"--redis_addr=" + redis.address(), "--content_addr=" + content.address(),
                           "--log_level=debug"});
  ASSERT_TRUE(reminder.Start().ok());

  auto triage_stub = triage::v1::TriageService::NewStub(triage.channel());
  triage::v1::AssessLegSymptomsRequest assess;
  assess.mutable_pregnancy()->set_gestational_age_weeks(33);
  for (auto kind :
       {triage::v1::SYMPTOM_KIND_LEG_SWELLING, triage::v1::SYMPTOM_KIND_LEG_TENDERNESS,
        triage::v1::SYMPTOM_KIND_CHEST_PAIN, triage::v1::SYMPTOM_KIND_SEVERE_HEADACHE}) {
    auto* s = assess.add_symptoms();
    s->set_kind(kind);
    s->set_side(triage::v1::SIDE_LEFT);
  }
  assess.set_include_guidance(true);
  triage::v1::AssessLegSymptomsRequest invalid = assess;
  invalid.mutable_symptoms(0)->set_severity(99);  // an error path logs too
  for (const auto* req : {&assess, &invalid}) {
    WithSentinelMetadata([&](grpc::ClientContext* ctx) {
      triage::v1::AssessLegSymptomsResponse resp;
      triage_stub->AssessLegSymptoms(ctx, *req, &resp);
    });
  }

  auto content_stub = content::v1::ContentService::NewStub(content.channel());
  content::v1::LookupGuidanceByCodeRequest lookup;
  lookup.set_code_system(content::v1::CODE_SYSTEM_ICD10CM);
  lookup.set_code("O22.33");
  content::v1::GetGuidanceRequest guidance;
  guidance.set_topic_id("blood-clot-warning-signs");
  content::v1::GetGuidanceRequest missing;
  missing.set_topic_id("pre-eclampsia-sentinel-missing");
  WithSentinelMetadata([&](grpc::ClientContext* ctx) {
    content::v1::LookupGuidanceByCodeResponse resp;
    content_stub->LookupGuidanceByCode(ctx, lookup, &resp);
  });
  for (const auto* req : {&guidance, &missing}) {
    WithSentinelMetadata([&](grpc::ClientContext* ctx) {
      content::v1::GetGuidanceResponse resp;
      content_stub->GetGuidance(ctx, *req, &resp);
    });
  }

  auto reminder_stub = reminder::v1::ReminderService::NewStub(reminder.channel());
  reminder::v1::CreateReminderPlanRequest create;
  auto* plan = create.mutable_plan();
  plan->set_user_id(kUserSentinel);
  plan->set_time_zone("Europe/London");
  plan->mutable_wake_time()->set_hours(7);
  plan->mutable_sleep_time()->set_hours(22);
  plan->add_kinds(reminder::v1::NUDGE_KIND_HYDRATION);
  reminder::v1::CreateReminderPlanRequest bad_zone = create;
  bad_zone.mutable_plan()->set_time_zone("Mars/Olympus_Mons");
  for (const auto* req : {&create, &bad_zone}) {
    WithSentinelMetadata([&](grpc::ClientContext* ctx) {
      reminder::v1::CreateReminderPlanResponse resp;
      reminder_stub->CreateReminderPlan(ctx, *req, &resp);
    });
  }
  reminder::v1::LogWaterIntakeRequest water;
  water.set_user_id(kUserSentinel);
  water.set_amount_ml(250);
  WithSentinelMetadata([&](grpc::ClientContext* ctx) {
    reminder::v1::LogWaterIntakeResponse resp;
    reminder_stub->LogWaterIntake(ctx, water, &resp);
  });

  // Stop them so every line is flushed.
  for (ServiceProcess* p : {&triage, &reminder, &content}) ASSERT_TRUE(p->Terminate().ok());

  std::vector<std::string> files = LogFiles();
  ASSERT_FALSE(files.empty());
  int lines_scanned = 0;
  bool saw_own_logs = false;
  for (const std::string& file : files) {
    std::ifstream in(file);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      ++lines_scanned;
      if (file == triage.log_path() && absl::StrContains(line, "AssessLegSymptoms")) {
        saw_own_logs = true;
      }
      std::string lower = absl::AsciiStrToLower(line);
      for (const std::string& word : Forbidden()) {
        EXPECT_FALSE(absl::StrContains(lower, word))
            << file << ":" << number << " contains '" << word << "': " << line;
      }
    }
  }
  EXPECT_TRUE(saw_own_logs) << "debug logging must have recorded the calls (method names)";
  EXPECT_GT(lines_scanned, 20);
  std::cout << "scanned " << lines_scanned << " log lines in " << files.size() << " files\n";
}

}  // namespace
}  // namespace legwise
