// Faults under load, with the real processes on loopback: SIGTERM while calls are in flight, Redis
// killed and restarted while content and reminder are busy, clients vanishing mid-stream.
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "tests/support/process.h"

namespace legwise {
namespace {

using testing::RedisServer;
using testing::ServiceProcess;

// Runs `call` from `threads` threads until `stop`; counts the status codes seen.
class Load {
 public:
  Load(int threads, std::function<grpc::Status()> call) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, call] {
        while (!stop_.load()) {
          grpc::Status s = call();
          std::lock_guard<std::mutex> lock(mu_);
          ++codes_[s.error_code()];
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::map<grpc::StatusCode, int> codes() {
    std::lock_guard<std::mutex> lock(mu_);
    return codes_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<grpc::StatusCode, int> codes_;
  std::vector<std::thread> threads_;
};

std::string Describe(const std::map<grpc::StatusCode, int>& codes) {
  std::string out;
  for (auto [code, n] : codes) absl::StrAppend(&out, static_cast<int>(code), ":", n, " ");
  return out;
}

// SIGTERM under load, drained the way the deployment does it: the server reports NOT_SERVING at
// once and keeps serving for --drain_delay while callers (like a load balancer watching health)
// move away; only then does it stop accepting and let in-flight calls finish. Every call must
// succeed. (Without the drain delay, calls that reach the server while it closes are refused by
// gRPC with UNAVAILABLE or CANCELLED, which is why k8s sets LEGWISE_DRAIN_DELAY.)
TEST(FaultTest, SigtermUnderLoadFailsNoCallInFlight) {
  ServiceProcess triage("legwise-triage", {"--content_addr=127.0.0.1:1", "--shutdown_grace=10s",
                                           "--drain_delay=1s", "--rate_limit_per_second=0"});
  ASSERT_TRUE(triage.Start().ok());
  auto stub = triage::v1::TriageService::NewStub(triage.channel());
  triage::v1::AssessLegSymptomsRequest req;
  req.add_symptoms()->set_kind(triage::v1::SYMPTOM_KIND_LEG_SWELLING);
  std::atomic<bool> draining{false};
  std::atomic<int> after_sigterm{0};
  Load load(8, [&]() -> grpc::Status {
    if (draining.load()) {
      absl::SleepFor(absl::Milliseconds(10));  // moved away, like a balancer
      return grpc::Status::OK;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    triage::v1::AssessLegSymptomsResponse resp;
    return stub->AssessLegSymptoms(&ctx, req, &resp);
  });
  absl::SleepFor(absl::Seconds(1));
  const int ok_before = load.codes()[grpc::StatusCode::OK];
  triage.process().Signal(SIGTERM);
  // Watch health as a balancer would; calls go on until NOT_SERVING is seen.
  ASSERT_TRUE(testing::WaitForHealth(triage.channel().get(), "", false, absl::Seconds(5)).ok());
  after_sigterm = load.codes()[grpc::StatusCode::OK] - ok_before;
  draining = true;
  auto exit_status = triage.process().Wait(absl::Seconds(20));
  load.Stop();
  ASSERT_TRUE(exit_status.ok());
  EXPECT_EQ(*exit_status, 0) << "graceful exit";
  auto codes = load.codes();
  EXPECT_GT(ok_before, 100) << Describe(codes);
  for (auto [code, n] : codes) {
    EXPECT_EQ(code, grpc::StatusCode::OK)
        << "status " << static_cast<int>(code) << " x" << n << " (" << Describe(codes) << ")";
  }
  std::cout << "calls before SIGTERM: " << ok_before << ", answered after it: " << after_sigterm
            << "\n";
}

TEST(FaultTest, RedisKilledUnderLoadCostsContentNothingAndReminderNoPlan) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  ServiceProcess content("legwise-content",
                         {"--redis_addr=" + redis.address(), "--rate_limit_per_second=0"});
  ASSERT_TRUE(content.Start().ok());
  ServiceProcess reminder("legwise-reminder",
                          {"--redis_addr=" + redis.address(), "--content_addr=" + content.address(),
                           "--rate_limit_per_second=0", "--health_interval=100ms"});
  ASSERT_TRUE(reminder.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(reminder.channel().get(), "", true, absl::Seconds(10)).ok());

  auto rstub = reminder::v1::ReminderService::NewStub(reminder.channel());
  std::vector<std::string> users;
  for (int i = 0; i < 20; ++i) {
    reminder::v1::CreateReminderPlanRequest req;
    auto* p = req.mutable_plan();
    p->set_user_id(absl::StrCat("fault-", i));
    p->set_time_zone("America/New_York");
    p->mutable_wake_time()->set_hours(6);
    p->mutable_sleep_time()->set_hours(21);
    p->add_kinds(reminder::v1::NUDGE_KIND_STRETCHING);
    grpc::ClientContext ctx;
    reminder::v1::CreateReminderPlanResponse resp;
    ASSERT_TRUE(rstub->CreateReminderPlan(&ctx, req, &resp).ok());
    users.push_back(p->user_id());
  }
  absl::SleepFor(absl::Seconds(1.5));  // appendfsync everysec: the plans are on disk

  auto cstub = content::v1::ContentService::NewStub(content.channel());
  std::atomic<int> n{0};
  Load guidance(4, [&] {
    grpc::ClientContext ctx;
    // Generous: the point is that no call fails for want of Redis, not how fast a sanitizer build
    // answers on a loaded 2-core machine (a 2 s deadline was missed there by a starved server).
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    content::v1::GetGuidanceRequest req;
    req.set_topic_id(n++ % 2 ? "leg-cramps" : "hydration");
    req.set_locale(n % 3 ? "es" : "en");
    content::v1::GetGuidanceResponse resp;
    return cstub->GetGuidance(&ctx, req, &resp);
  });
  absl::SleepFor(absl::Milliseconds(500));
  redis.Kill();
  absl::SleepFor(absl::Seconds(2));
  ASSERT_TRUE(redis.Start().ok());
  absl::SleepFor(absl::Seconds(1));
  guidance.Stop();
  auto codes = guidance.codes();
  EXPECT_EQ(codes.size(), 1u) << "content answers from its catalog while Redis is away: "
                              << Describe(codes);
  EXPECT_GT(codes[grpc::StatusCode::OK], 100);

  // Reminder recovers by itself and has every plan.
  ASSERT_TRUE(testing::WaitForHealth(reminder.channel().get(), "", true, absl::Seconds(15)).ok());
  for (const std::string& user : users) {
    grpc::ClientContext ctx;
    reminder::v1::GetReminderPlanRequest req;
    req.set_user_id(user);
    reminder::v1::GetReminderPlanResponse resp;
    grpc::Status s = rstub->GetReminderPlan(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << user << ": " << s.error_message();
  }
}

TEST(FaultTest, ClientsVanishingMidStreamLeaveNoStreamBehind) {
  ServiceProcess reminder("legwise-reminder",
                          {"--memory_store", "--content_addr=", "--rate_limit_per_second=0"});
  ASSERT_TRUE(reminder.Start().ok());
  auto stub = reminder::v1::ReminderService::NewStub(reminder.channel());
  auto wait_for_open = [&](int want) {
    std::string line = absl::StrCat("legwise_reminder_open_streams ", want, "\n");
    std::string metrics;
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      metrics = testing::HttpGet(reminder.metrics_port(), "/metrics").value_or("");
      if (metrics.find(line) != std::string::npos) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "want " << line << " in\n" << metrics;
    return false;
  };
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<std::unique_ptr<grpc::ClientReader<reminder::v1::Nudge>>> readers;
    for (int i = 0; i < 20; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      reminder::v1::StreamNudgesRequest req;
      req.set_user_id(absl::StrCat("gone-", i));
      readers.push_back(stub->StreamNudges(contexts.back().get(), req));
    }
    ASSERT_TRUE(wait_for_open(20)) << "round " << round;
    // The clients vanish without a word.
    for (auto& c : contexts) c->TryCancel();
    for (auto& r : readers) r->Finish();
    ASSERT_TRUE(wait_for_open(0)) << "every server-side stream is gone with its client";
  }
  // One user may hold only a few streams at once (5 by default); the rest are refused.
  {
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<std::unique_ptr<grpc::ClientReader<reminder::v1::Nudge>>> readers;
    for (int i = 0; i < 6; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      reminder::v1::StreamNudgesRequest req;
      req.set_user_id("many-devices");
      readers.push_back(stub->StreamNudges(contexts.back().get(), req));
      if (i == 4) ASSERT_TRUE(wait_for_open(5));
    }
    grpc::Status sixth = readers.back()->Finish();
    EXPECT_EQ(sixth.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << sixth.error_message();
    for (int i = 0; i < 5; ++i) contexts[i]->TryCancel();
    for (int i = 0; i < 5; ++i) readers[i]->Finish();
    ASSERT_TRUE(wait_for_open(0));
  }

  // And nothing holds the server up at shutdown.
  absl::Time start = absl::Now();
  auto exit_status = reminder.Terminate(absl::Seconds(30));
  ASSERT_TRUE(exit_status.ok());
  EXPECT_EQ(*exit_status, 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

}  // namespace
}  // namespace legwise
