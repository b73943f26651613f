// The gRPC adapter of legwise.triage.v1.TriageService (callback API): validates, asks the engine,
// optionally adds guidance from legwise-content under a short deadline, and maps errors with
// ToGrpcStatus. No medical logic here: that is all in engine/ and its rule table.
#ifndef LEGWISE_SERVICES_TRIAGE_TRIAGE_SERVICE_H_
#define LEGWISE_SERVICES_TRIAGE_TRIAGE_SERVICE_H_

#include <array>
#include <memory>

#include "absl/time/time.h"
#include "grpcpp/support/message_allocator.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "services/common/security.h"
#include "services/triage/engine/triage_engine.h"
#include "services/triage/guidance_client.h"

namespace legwise::triage {

// Settings of the adapter.
struct TriageServiceOptions {
  // Total time allowed for fetching guidance (all topics in parallel). When it passes, the answer
  // goes out with what arrived and guidance_degraded = true.
  absl::Duration guidance_timeout = absl::Milliseconds(150);
};

// Recycles AssessLegSymptoms request/response messages: a finished call's messages are cleared and
// kept (per thread, up to a small cap) for the next call. Clear() keeps the strings' and repeated
// fields' storage, so a steady stream of calls builds its answers without allocating.
class PooledMessageAllocator final
    : public grpc::MessageAllocator<v1::AssessLegSymptomsRequest, v1::AssessLegSymptomsResponse> {
 public:
  grpc::MessageHolder<v1::AssessLegSymptomsRequest, v1::AssessLegSymptomsResponse>*
  AllocateMessages() override;
};

// legwise.triage.v1.TriageService over the callback API. Thread-safe; one instance per server.
class TriageServiceImpl final : public v1::TriageService::CallbackService {
 public:
  // `guidance` may be null (guidance is then always degraded when asked for). `guard` may be null
  // (no admission control, for in-process tests); otherwise every call is admitted by it first
  // (authentication, rate limit). Both must outlive the service.
  TriageServiceImpl(TriageEngine engine, GuidanceClient* guidance, TriageServiceOptions options,
                    CallGuard* guard = nullptr);

  // Admits the caller (UNAUTHENTICATED / RESOURCE_EXHAUSTED), validates (INVALID_ARGUMENT with one
  // field violation per problem), assesses, and when include_guidance is set fetches the suspected
  // conditions' topics (each once) before finishing. The urgency and everything but
  // `guidance`/`guidance_degraded` are computed before any downstream call starts and are never
  // changed by its outcome.
  grpc::ServerUnaryReactor* AssessLegSymptoms(grpc::CallbackServerContext* context,
                                              const v1::AssessLegSymptomsRequest* request,
                                              v1::AssessLegSymptomsResponse* response) override;

  // Serves the rule table (precomputed per language).
  grpc::ServerUnaryReactor* GetRuleSet(grpc::CallbackServerContext* context,
                                       const v1::GetRuleSetRequest* request,
                                       v1::GetRuleSetResponse* response) override;

 private:
  absl::Status Admit(grpc::CallbackServerContext* context) const;

  PooledMessageAllocator allocator_;
  CallGuard* guard_;
  TriageEngine engine_;
  GuidanceClient* guidance_;
  TriageServiceOptions options_;
  std::array<v1::GetRuleSetResponse, kNumLangs> rule_sets_;
};

}  // namespace legwise::triage

#endif  // LEGWISE_SERVICES_TRIAGE_TRIAGE_SERVICE_H_
