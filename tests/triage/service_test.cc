// The gRPC adapter in-process, with in-memory guidance clients: guidance asked once per topic in
// the order of the suspected conditions, partial or late guidance marks the answer degraded, the
// caller's own deadline is respected, and the urgency never depends on guidance.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/common/validation.h"
#include "services/triage/triage_service.h"
#include "tests/triage/test_util.h"

namespace legwise::triage {
namespace {

using testing::AddSymptoms;

// Answers every topic except those in `missing`, after `delay`, on its own thread.
class FakeGuidance final : public GuidanceClient {
 public:
  FakeGuidance(std::vector<std::string> missing, absl::Duration delay)
      : missing_(std::move(missing)), delay_(delay) {}
  ~FakeGuidance() override {
    for (auto& t : threads_) t.join();
  }

  void Fetch(const std::vector<std::string>& topic_ids, const std::string& locale,
             const content::v1::PersonalContext& context, absl::Duration timeout,
             const grpc::ServerContextBase*, std::function<void(GuidanceResult)> done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      asked_.push_back(topic_ids);
      timeouts_.push_back(timeout);
      contexts_.push_back(context);
      locales_.push_back(locale);
    }
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back([this, topic_ids, locale, timeout, done = std::move(done)] {
      // A real client gives up at `timeout`; so does this one.
      absl::SleepFor(std::min(delay_, timeout));
      GuidanceResult result;
      const bool in_time = delay_ <= timeout;
      result.complete = in_time;
      for (const std::string& t : topic_ids) {
        if (!in_time) break;
        if (std::find(missing_.begin(), missing_.end(), t) != missing_.end()) {
          result.complete = false;
          continue;
        }
        content::v1::Guidance g;
        g.set_topic_id(t);
        g.set_locale(locale);
        result.guidance.push_back(std::move(g));
      }
      done(std::move(result));
    });
  }

  std::vector<std::vector<std::string>> asked() {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }
  std::vector<absl::Duration> timeouts() {
    std::lock_guard<std::mutex> lock(mu_);
    return timeouts_;
  }
  std::vector<content::v1::PersonalContext> contexts() {
    std::lock_guard<std::mutex> lock(mu_);
    return contexts_;
  }

 private:
  std::vector<std::string> missing_;
  absl::Duration delay_;
  std::mutex mu_;
  std::vector<std::vector<std::string>> asked_;
  std::vector<absl::Duration> timeouts_;
  std::vector<content::v1::PersonalContext> contexts_;
  std::vector<std::string> locales_;
  std::vector<std::thread> threads_;
};

// An in-process server around one TriageServiceImpl.
class Harness {
 public:
  Harness(GuidanceClient* guidance, absl::Duration guidance_timeout = absl::Milliseconds(150))
      : service_(TriageEngine(*RuleTable::Builtin()), guidance,
                 TriageServiceOptions{guidance_timeout}) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    stub_ = v1::TriageService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                           grpc::InsecureChannelCredentials()));
  }
  ~Harness() { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2)); }

  grpc::Status Assess(const v1::AssessLegSymptomsRequest& request,
                      v1::AssessLegSymptomsResponse* response,
                      absl::Duration deadline = absl::Seconds(5)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline));
    return stub_->AssessLegSymptoms(&ctx, request, response);
  }
  v1::TriageService::Stub* stub() { return stub_.get(); }

 private:
  TriageServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::TriageService::Stub> stub_;
};

v1::AssessLegSymptomsRequest Request(absl::string_view symptoms, bool guidance) {
  v1::AssessLegSymptomsRequest r;
  AddSymptoms(symptoms, &r);
  r.mutable_pregnancy()->set_gestational_age_weeks(33);
  r.set_include_guidance(guidance);
  r.set_locale("es-MX");
  return r;
}

TEST(TriageServiceTest, AsksEachTopicOnceInConditionOrder) {
  FakeGuidance guidance({}, absl::ZeroDuration());
  Harness h(&guidance);
  v1::AssessLegSymptomsResponse r;
  // PE and DVT share blood-clot-warning-signs; pre-eclampsia has its own topic.
  ASSERT_TRUE(h.Assess(Request("sob swell:L headache", true), &r).ok());
  ASSERT_EQ(guidance.asked().size(), 1u);
  EXPECT_EQ(guidance.asked()[0],
            (std::vector<std::string>{"blood-clot-warning-signs", "pre-eclampsia-warning-signs"}));
  EXPECT_EQ(guidance.contexts()[0].gestational_age_weeks(), 33);
  EXPECT_FALSE(r.guidance_degraded());
  ASSERT_EQ(r.guidance_size(), 2);
  EXPECT_EQ(r.guidance(0).topic_id(), "blood-clot-warning-signs");
  EXPECT_EQ(r.guidance(0).locale(), "es");
  EXPECT_FALSE(r.request_id().empty());  // generated when the caller sent none
}

TEST(TriageServiceTest, NoGuidanceAskedUnlessIncluded) {
  FakeGuidance guidance({}, absl::ZeroDuration());
  Harness h(&guidance);
  v1::AssessLegSymptomsResponse r;
  ASSERT_TRUE(h.Assess(Request("cramp:L", false), &r).ok());
  EXPECT_TRUE(guidance.asked().empty());
  EXPECT_FALSE(r.guidance_degraded());
}

TEST(TriageServiceTest, PartialGuidanceIsDegradedButKept) {
  FakeGuidance guidance({"leg-cramps"}, absl::ZeroDuration());
  Harness h(&guidance);
  v1::AssessLegSymptomsResponse r;
  ASSERT_TRUE(h.Assess(Request("cramp:L urge", true), &r).ok());
  EXPECT_TRUE(r.guidance_degraded());
  ASSERT_EQ(r.guidance_size(), 1);
  EXPECT_EQ(r.guidance(0).topic_id(), "restless-legs");
}

TEST(TriageServiceTest, LateGuidanceIsDroppedAndTheAnswerIsTheSame) {
  FakeGuidance fast({}, absl::ZeroDuration());
  FakeGuidance slow({}, absl::Seconds(10));
  Harness with_fast(&fast);
  Harness with_slow(&slow, absl::Milliseconds(100));
  Harness without(nullptr);
  const auto request = Request("swell:L tender:L", true);
  v1::AssessLegSymptomsResponse a, b, c;
  ASSERT_TRUE(with_fast.Assess(request, &a).ok());
  ASSERT_TRUE(with_slow.Assess(request, &b).ok());
  ASSERT_TRUE(without.Assess(request, &c).ok());
  EXPECT_FALSE(a.guidance_degraded());
  EXPECT_TRUE(b.guidance_degraded());
  EXPECT_TRUE(c.guidance_degraded());
  EXPECT_TRUE(b.guidance().empty());
  EXPECT_EQ(slow.timeouts()[0], absl::Milliseconds(100));
  for (auto* r : {&a, &b, &c}) {
    r->clear_guidance();
    r->clear_guidance_degraded();
    r->clear_request_id();
  }
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a, b));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a, c));
  EXPECT_EQ(a.urgency(), v1::URGENCY_URGENT);
}

TEST(TriageServiceTest, GuidanceNeverOutlastsTheCallersDeadline) {
  FakeGuidance slow({}, absl::Seconds(10));
  Harness h(&slow, absl::Seconds(30));  // a (mis)configured long guidance timeout
  v1::AssessLegSymptomsResponse r;
  const grpc::Status s = h.Assess(Request("cramp:L", true), &r, absl::Milliseconds(800));
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(r.guidance_degraded());
  ASSERT_EQ(slow.timeouts().size(), 1u);
  EXPECT_LT(slow.timeouts()[0], absl::Milliseconds(800));
}

TEST(TriageServiceTest, InvalidRequestsNeverReachTheEngineOrContent) {
  FakeGuidance guidance({}, absl::ZeroDuration());
  Harness h(&guidance);
  auto request = Request("cramp:L", true);
  request.mutable_symptoms(0)->set_severity(-2);
  v1::AssessLegSymptomsResponse r;
  const grpc::Status s = h.Assess(request, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const auto violations = GetFieldViolations(FromGrpcStatus(s));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "symptoms[0].severity");
  EXPECT_TRUE(guidance.asked().empty());
}

TEST(TriageServiceTest, GetRuleSetInBothLanguages) {
  Harness h(nullptr);
  v1::GetRuleSetRequest req;
  v1::GetRuleSetResponse en, es;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(h.stub()->GetRuleSet(&ctx, req, &en).ok());
  }
  req.set_locale("es");
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(h.stub()->GetRuleSet(&ctx, req, &es).ok());
  }
  ASSERT_EQ(en.rules_size(), es.rules_size());
  EXPECT_NE(en.rules(0).description(), es.rules(0).description());
  EXPECT_EQ(en.version(), es.version());
}

}  // namespace
}  // namespace legwise::triage
