// legwise-triage over gRPC, as a real process: with a real legwise-content (and Redis behind it),
// with content stopped, with content unreachable, and with a content server too slow to answer in
// time. The urgency must be the same in every case; only guidance and guidance_degraded may differ.
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "services/common/validation.h"
#include "tests/support/process.h"
#include "tests/triage/test_util.h"

namespace legwise::triage {
namespace {

using legwise::testing::FreePort;
using legwise::testing::RedisServer;
using legwise::testing::ServiceProcess;
using testing::AddSymptoms;

v1::AssessLegSymptomsRequest Request(absl::string_view symptoms, int weeks, bool guidance,
                                     absl::string_view locale = "en") {
  v1::AssessLegSymptomsRequest r;
  AddSymptoms(symptoms, &r);
  r.mutable_pregnancy()->set_gestational_age_weeks(weeks);
  r.set_include_guidance(guidance);
  r.set_locale(std::string(locale));
  r.set_request_id("it-1");
  return r;
}

struct Answer {
  grpc::Status status;
  v1::AssessLegSymptomsResponse response;
};

Answer Assess(ServiceProcess& triage, const v1::AssessLegSymptomsRequest& request,
              absl::Duration deadline = absl::Seconds(5)) {
  auto stub = v1::TriageService::NewStub(triage.channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline));
  Answer a;
  a.status = stub->AssessLegSymptoms(&ctx, request, &a.response);
  return a;
}

// Everything but the guidance fields.
v1::AssessLegSymptomsResponse WithoutGuidance(v1::AssessLegSymptomsResponse r) {
  r.clear_guidance();
  r.clear_guidance_degraded();
  return r;
}

// One real content (with Redis) and one triage using it, shared by the tests that need them up.
class TriageWithContentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    ASSERT_TRUE(redis_->Start().ok());
    content_ = new ServiceProcess("legwise-content", {"--redis_addr=" + redis_->address()});
    ASSERT_TRUE(content_->Start().ok()) << "see " << content_->log_path();
    triage_ = new ServiceProcess("legwise-triage", {"--content_addr=" + content_->address()});
    ASSERT_TRUE(triage_->Start().ok()) << "see " << triage_->log_path();
  }
  static void TearDownTestSuite() {
    if (triage_) ASSERT_TRUE(triage_->Terminate().ok());
    delete triage_;
    delete content_;
    delete redis_;
  }
  static RedisServer* redis_;
  static ServiceProcess* content_;
  static ServiceProcess* triage_;
};
RedisServer* TriageWithContentTest::redis_ = nullptr;
ServiceProcess* TriageWithContentTest::content_ = nullptr;
ServiceProcess* TriageWithContentTest::triage_ = nullptr;

TEST_F(TriageWithContentTest, ServesHealth) {
  EXPECT_EQ(*legwise::testing::CheckHealth(triage_->channel().get(), ""), 1);
  EXPECT_EQ(
      *legwise::testing::CheckHealth(triage_->channel().get(), "legwise.triage.v1.TriageService"),
      1);
}

TEST_F(TriageWithContentTest, DvtSignsAreUrgentWithGuidanceFromContent) {
  const Answer a = Assess(*triage_, Request("swell:L tender:L", 30, true, "es"));
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  const auto& r = a.response;
  EXPECT_EQ(r.urgency(), v1::URGENCY_URGENT);
  ASSERT_FALSE(r.suspected_conditions().empty());
  EXPECT_EQ(r.suspected_conditions(0).condition(), v1::CONDITION_DEEP_VEIN_THROMBOSIS);
  EXPECT_TRUE(r.left_score().evaluated());
  EXPECT_EQ(r.locale(), "es");
  EXPECT_EQ(r.request_id(), "it-1");
  EXPECT_FALSE(r.guidance_degraded());
  ASSERT_EQ(r.guidance_size(), 1);
  EXPECT_EQ(r.guidance(0).topic_id(), "blood-clot-warning-signs");
  EXPECT_EQ(r.guidance(0).locale(), "es");
  EXPECT_FALSE(r.guidance(0).sections().empty());
}

// Every URGENT or EMERGENCY answer carries when-to-get-help guidance from the real content service,
// including the catch-all "a clinician should check" answers, in both languages.
TEST_F(TriageWithContentTest, EveryUrgentAnswerCarriesWhenToGetHelpGuidance) {
  for (absl::string_view symptoms : {"sob", "confusion", "fever", "headache", "nofluids", "numb:L",
                                     "swell:L", "chest", "red:L warm:L fastheart", "cold:R!"}) {
    for (absl::string_view locale : {"en", "es"}) {
      SCOPED_TRACE(absl::StrCat(symptoms, " ", locale));
      const Answer a = Assess(*triage_, Request(symptoms, 12, true, locale));
      ASSERT_TRUE(a.status.ok()) << a.status.error_message();
      ASSERT_GE(a.response.urgency(), v1::URGENCY_URGENT);
      EXPECT_FALSE(a.response.guidance_degraded());
      bool help = false;
      for (const auto& g : a.response.guidance()) {
        EXPECT_EQ(g.locale(), locale);
        for (const auto& sec : g.sections()) {
          if (sec.kind() != content::v1::SECTION_KIND_WHEN_TO_GET_HELP) continue;
          for (const auto& tip : sec.tips()) {
            help |= tip.care_level() >= content::v1::CARE_LEVEL_URGENT;
          }
        }
      }
      EXPECT_TRUE(help) << a.response.DebugString();
    }
  }
}

// legwisectl takes risk factors and shows which ones raised the answer.
TEST_F(TriageWithContentTest, LegwisectlSendsRiskFactorsAndShowsThem) {
  const std::string cmd = absl::StrCat(
      legwise::testing::BinDir(), "/legwisectl --triage_addr=", triage_->address(),
      " triage --weeks 30 --symptom leg_swelling:both --risk previous_vte,smoking 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "dvt.leg_sign_with_risk_factor")) << out;
  EXPECT_TRUE(absl::StrContains(out, "risk factors: previous_vte")) << out;
  EXPECT_FALSE(absl::StrContains(out, "smoking")) << "smoking alone did not count:\n" << out;

  FILE* bad = popen(
      absl::StrCat(legwise::testing::BinDir(), "/legwisectl --triage_addr=", triage_->address(),
                   " triage --symptom muscle_cramp --risk not_a_risk 2>&1")
          .c_str(),
      "r");
  ASSERT_NE(bad, nullptr);
  out.clear();
  for (size_t n; (n = fread(buf, 1, sizeof(buf), bad)) > 0;) out.append(buf, n);
  EXPECT_NE(pclose(bad), 0);
  EXPECT_TRUE(absl::StrContains(out, "unknown risk factor 'not_a_risk'")) << out;
}

TEST_F(TriageWithContentTest, GuidanceTopicsAreFetchedOncePerTopicInOrder) {
  // Pulmonary embolism and DVT share one topic.
  Answer a = Assess(*triage_, Request("sob swell:L", 30, true));
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(a.response.urgency(), v1::URGENCY_EMERGENCY);
  ASSERT_EQ(a.response.guidance_size(), 1);
  EXPECT_EQ(a.response.guidance(0).topic_id(), "blood-clot-warning-signs");

  a = Assess(*triage_, Request("urge rest move evening cramp:R swell:B", 36, true));
  ASSERT_TRUE(a.status.ok());
  EXPECT_FALSE(a.response.guidance_degraded());
  ASSERT_EQ(a.response.guidance_size(), 3);
  EXPECT_EQ(a.response.guidance(0).topic_id(), "restless-legs");
  EXPECT_EQ(a.response.guidance(1).topic_id(), "leg-cramps");
  EXPECT_EQ(a.response.guidance(2).topic_id(), "swelling");
}

TEST_F(TriageWithContentTest, WithoutIncludeGuidanceNoGuidanceAndNotDegraded) {
  const Answer a = Assess(*triage_, Request("cramp:L", 30, false));
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(a.response.urgency(), v1::URGENCY_SELF_CARE);
  EXPECT_TRUE(a.response.guidance().empty());
  EXPECT_FALSE(a.response.guidance_degraded());
}

TEST_F(TriageWithContentTest, RequestIdFromHeaderWhenNotInTheRequest) {
  auto stub = v1::TriageService::NewStub(triage_->channel());
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-request-id", "hdr-77");
  auto request = Request("cramp:L", 30, false);
  request.clear_request_id();
  v1::AssessLegSymptomsResponse response;
  ASSERT_TRUE(stub->AssessLegSymptoms(&ctx, request, &response).ok());
  EXPECT_EQ(response.request_id(), "hdr-77");
}

TEST_F(TriageWithContentTest, BadInputIsInvalidArgumentWithFieldViolations) {
  auto request = Request("cramp:L swell:B", 30, true);
  request.mutable_symptoms(0)->set_kind(v1::SYMPTOM_KIND_UNSPECIFIED);
  request.mutable_symptoms(1)->set_severity(11);
  request.mutable_pregnancy()->set_postpartum_weeks(2);
  const Answer a = Assess(*triage_, request);
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const absl::Status s = FromGrpcStatus(a.status);
  std::vector<std::string> paths;
  for (const auto& v : GetFieldViolations(s)) paths.push_back(v.field);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"pregnancy", "symptoms[0].kind", "symptoms[1].severity"}));
  EXPECT_EQ(GetErrorReason(s), "INVALID_REQUEST");

  v1::AssessLegSymptomsRequest empty;
  const Answer b = Assess(*triage_, empty);
  EXPECT_EQ(b.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(GetFieldViolations(FromGrpcStatus(b.status)).size(), 1u);
  EXPECT_EQ(GetFieldViolations(FromGrpcStatus(b.status))[0].field, "symptoms");
}

TEST_F(TriageWithContentTest, GetRuleSetServesTheTable) {
  auto stub = v1::TriageService::NewStub(triage_->channel());
  v1::GetRuleSetRequest request;
  request.set_locale("es");
  v1::GetRuleSetResponse response;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->GetRuleSet(&ctx, request, &response).ok());
  EXPECT_EQ(response.version(), "2026.12.1");
  EXPECT_GE(response.rules_size(), 40);
  std::set<std::string> ids;
  for (const auto& rule : response.rules()) {
    EXPECT_FALSE(rule.rule_id().empty());
    EXPECT_FALSE(rule.sources().empty());
    ids.insert(rule.rule_id());
    if (rule.rule_id() == "warning.confusion") {
      EXPECT_EQ(rule.urgency(), v1::URGENCY_EMERGENCY);
      EXPECT_EQ(rule.description(), "Confusión nueva o repentina, o somnolencia inusual.");
    }
  }
  // The rules of rule set 2026.12.1 (confusion, spreading infection, sudden cold leg, ACOG severe
  // features, morning sickness, numbness, risk factors) are served for audit.
  for (const char* id :
       {"warning.confusion", "cellulitis.severe", "preeclampsia.seizure",
        "ischaemia.sudden_cold_pale_leg", "preeclampsia.severe_features",
        "morning_sickness.vomiting", "numbness.gradual", "dvt.leg_sign_with_risk_factor"}) {
    EXPECT_TRUE(ids.count(id)) << id;
  }
  const Answer a = Assess(*triage_, Request("cramp:L", 30, false));
  EXPECT_EQ(a.response.rule_set_version(), response.version());

  request.set_locale("not a tag");
  grpc::ClientContext ctx2;
  EXPECT_EQ(stub->GetRuleSet(&ctx2, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Content goes away: the answer still comes, complete, with guidance_degraded = true, and is the
// same answer as with content up.
TEST(TriageContentDownTest, ContentStoppedMeansDegradedGuidanceSameUrgency) {
  ServiceProcess content("legwise-content",
                         {"--redis_addr=127.0.0.1:" + std::to_string(FreePort())});
  ASSERT_TRUE(content.Start().ok()) << content.log_path();
  ServiceProcess triage("legwise-triage", {"--content_addr=" + content.address()});
  ASSERT_TRUE(triage.Start().ok()) << triage.log_path();

  const auto request = Request("swell:L headache", 35, true);
  const Answer up = Assess(triage, request);
  ASSERT_TRUE(up.status.ok());
  EXPECT_FALSE(up.response.guidance_degraded());
  EXPECT_EQ(up.response.guidance_size(), 2);

  ASSERT_TRUE(content.Terminate().ok());
  for (int i = 0; i < 3; ++i) {  // also after the channel noticed the loss
    const Answer down = Assess(triage, request, absl::Seconds(3));
    ASSERT_TRUE(down.status.ok()) << down.status.error_message();
    EXPECT_TRUE(down.response.guidance_degraded());
    EXPECT_TRUE(down.response.guidance().empty());
    EXPECT_EQ(down.response.urgency(), v1::URGENCY_URGENT);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(WithoutGuidance(up.response),
                                                                   WithoutGuidance(down.response)));
  }
  // Triage itself stays ready: content is an optional dependency.
  EXPECT_EQ(*legwise::testing::CheckHealth(triage.channel().get(), ""), 1);
  ASSERT_TRUE(triage.Terminate().ok());
}

TEST(TriageContentDownTest, ContentUnreachableFromTheStart) {
  ServiceProcess triage("legwise-triage",
                        {"--content_addr=127.0.0.1:" + std::to_string(FreePort())});
  ASSERT_TRUE(triage.Start().ok()) << triage.log_path();
  const Answer a = Assess(triage, Request("chest", 30, true), absl::Seconds(3));
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.response.urgency(), v1::URGENCY_EMERGENCY);
  EXPECT_TRUE(a.response.guidance_degraded());
  EXPECT_FALSE(a.response.summary().empty());
  EXPECT_FALSE(a.response.rule_hits().empty());
  ASSERT_TRUE(triage.Terminate().ok());
}

// Calls are admitted by the shared CallGuard: the per-caller rate limit applies to triage too.
TEST(TriageAdmissionTest, RateLimitedCallerGetsResourceExhausted) {
  ServiceProcess triage("legwise-triage", {"--content_addr=127.0.0.1:" + std::to_string(FreePort()),
                                           "--rate_limit_per_second=1", "--rate_limit_burst=2"});
  ASSERT_TRUE(triage.Start().ok()) << triage.log_path();
  int ok = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    const Answer a = Assess(triage, Request("cramp:L", 30, false));
    if (a.status.ok()) ++ok;
    if (a.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++limited;
  }
  EXPECT_GE(ok, 2);
  EXPECT_GE(limited, 1);
  EXPECT_EQ(ok + limited, 6);
  ASSERT_TRUE(triage.Terminate().ok());
}

// A content server that accepts the call and never answers in time.
class StuckContent final : public content::v1::ContentService::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetGuidance(grpc::CallbackServerContext* ctx,
                                        const content::v1::GetGuidanceRequest*,
                                        content::v1::GetGuidanceResponse*) override {
    calls_.fetch_add(1);
    // Never finished here: the client's deadline cancels the call, and the reactor finishes then.
    class Reactor : public grpc::ServerUnaryReactor {
      void OnCancel() override { Finish(grpc::Status::CANCELLED); }
      void OnDone() override { delete this; }
    };
    (void)ctx;
    return new Reactor();
  }
  std::atomic<int> calls_{0};
};

TEST(TriageContentDownTest, ContentTooSlowMeansDegradedWithinTheCallersDeadline) {
  StuckContent stuck;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&stuck);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(port, 0);

  ServiceProcess triage("legwise-triage", {"--content_addr=127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(triage.Start().ok()) << triage.log_path();
  // The caller gives 2 s; content never answers; triage must answer on its own (150 ms) deadline.
  const Answer a = Assess(triage, Request("cramp:L urge", 30, true), absl::Seconds(2));
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_TRUE(a.response.guidance_degraded());
  EXPECT_EQ(a.response.urgency(), v1::URGENCY_SELF_CARE);
  EXPECT_EQ(stuck.calls_.load(), 2);  // leg-cramps and restless-legs, in parallel
  ASSERT_TRUE(triage.Terminate().ok());
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace
}  // namespace legwise::triage
