#include "services/triage/triage_service.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "services/common/metrics.h"
#include "services/common/server_runner.h"
#include "services/common/validation.h"
#include "services/triage/engine/request_validation.h"

namespace legwise::triage {
namespace {

// Leave the caller this much of its own deadline to receive the answer.
constexpr absl::Duration kDeadlineMargin = absl::Milliseconds(10);

void CountGuidance(absl::string_view outcome) {
  Metrics::Default().Increment("legwise_triage_guidance_total",
                               {{"outcome", std::string(outcome)}});
}

// How many finished holders each thread keeps for reuse.
constexpr size_t kPoolPerThread = 64;

class PooledHolder;
// The calling thread's free holders. gRPC's callback threads are few and long-lived.
std::vector<std::unique_ptr<PooledHolder>>& FreeHolders();

class PooledHolder final
    : public grpc::MessageHolder<v1::AssessLegSymptomsRequest, v1::AssessLegSymptomsResponse> {
 public:
  PooledHolder() {
    set_request(&request_);
    set_response(&response_);
  }
  // Back to this thread's pool (cleared, storage kept), or freed when the pool is full.
  void Release() override {
    request_.Clear();
    response_.Clear();
    auto& pool = FreeHolders();
    if (pool.size() < kPoolPerThread) {
      pool.emplace_back(this);
    } else {
      delete this;
    }
  }

 private:
  v1::AssessLegSymptomsRequest request_;
  v1::AssessLegSymptomsResponse response_;
};

std::vector<std::unique_ptr<PooledHolder>>& FreeHolders() {
  thread_local std::vector<std::unique_ptr<PooledHolder>> pool;
  return pool;
}

}  // namespace

grpc::MessageHolder<v1::AssessLegSymptomsRequest, v1::AssessLegSymptomsResponse>*
PooledMessageAllocator::AllocateMessages() {
  auto& pool = FreeHolders();
  if (pool.empty()) return new PooledHolder();
  PooledHolder* holder = pool.back().release();
  pool.pop_back();
  return holder;
}

TriageServiceImpl::TriageServiceImpl(TriageEngine engine, GuidanceClient* guidance,
                                     TriageServiceOptions options, CallGuard* guard)
    : guard_(guard), engine_(std::move(engine)), guidance_(guidance), options_(options) {
  SetMessageAllocatorFor_AssessLegSymptoms(&allocator_);
  rule_sets_[static_cast<int>(Lang::kEn)] = engine_.DescribeRules("en");
  rule_sets_[static_cast<int>(Lang::kEs)] = engine_.DescribeRules("es");
  Metrics::Default().Describe("legwise_triage_guidance_total", "counter",
                              "Guidance fetches by outcome (complete, degraded, none_needed).");
}

absl::Status TriageServiceImpl::Admit(grpc::CallbackServerContext* context) const {
  if (guard_ == nullptr) return absl::OkStatus();
  return guard_->Admit(context).status();
}

grpc::ServerUnaryReactor* TriageServiceImpl::AssessLegSymptoms(
    grpc::CallbackServerContext* context, const v1::AssessLegSymptomsRequest* request,
    v1::AssessLegSymptomsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = Admit(context); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  if (FieldViolations v = ValidateAssessRequest(*request); !v.empty()) {
    reactor->Finish(ToGrpcStatus(v.ToStatus()));
    return reactor;
  }
  engine_.Assess(*request, response);
  if (response->request_id().empty()) response->set_request_id(GetCallIds(context).request_id);
  if (!request->include_guidance()) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  // Each topic once, in the order of the suspected conditions (most urgent first).
  std::vector<std::string> topics;
  for (const v1::SuspectedCondition& c : response->suspected_conditions()) {
    if (c.topic_id().empty()) continue;
    if (std::find(topics.begin(), topics.end(), c.topic_id()) == topics.end()) {
      topics.push_back(c.topic_id());
    }
  }
  if (topics.empty()) {
    CountGuidance("none_needed");
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  // Never outlast the caller's own deadline.
  absl::Duration timeout = options_.guidance_timeout;
  const absl::Time caller_deadline = absl::FromChrono(context->deadline());
  if (caller_deadline != absl::InfiniteFuture()) {
    timeout = std::min(timeout, caller_deadline - absl::Now() - kDeadlineMargin);
  }
  if (guidance_ == nullptr || timeout <= absl::ZeroDuration()) {
    CountGuidance("degraded");
    response->set_guidance_degraded(true);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  content::v1::PersonalContext personal;
  personal.set_gestational_age_weeks(request->pregnancy().gestational_age_weeks());
  personal.set_postpartum_weeks(request->pregnancy().postpartum_weeks());
  guidance_->Fetch(topics, response->locale(), personal, timeout, context,
                   [reactor, response](GuidanceResult result) {
                     for (content::v1::Guidance& g : result.guidance) {
                       *response->add_guidance() = std::move(g);
                     }
                     response->set_guidance_degraded(!result.complete);
                     CountGuidance(result.complete ? "complete" : "degraded");
                     reactor->Finish(grpc::Status::OK);
                   });
  return reactor;
}

grpc::ServerUnaryReactor* TriageServiceImpl::GetRuleSet(grpc::CallbackServerContext* context,
                                                        const v1::GetRuleSetRequest* request,
                                                        v1::GetRuleSetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = Admit(context); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  if (FieldViolations v = ValidateGetRuleSetRequest(*request); !v.empty()) {
    reactor->Finish(ToGrpcStatus(v.ToStatus()));
    return reactor;
  }
  *response = rule_sets_[static_cast<int>(ResolveLang(request->locale()))];
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace legwise::triage
