#include "services/common/client_channel.h"

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "services/common/grpc_metrics.h"
#include "services/common/metrics.h"
#include "services/common/server_runner.h"

namespace legwise {

std::shared_ptr<grpc::Channel> MakeClientChannel(
    const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Fail fast while a downstream is away instead of waiting for minutes between reconnects.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  std::string target =
      absl::StrContains(address, ":///") ? address : absl::StrCat("dns:///", address);
  if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
  return grpc::CreateCustomChannel(target, credentials, args);
}

void PrepareClientContext(grpc::ClientContext* context, absl::Duration timeout,
                          const grpc::ServerContextBase* parent) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (parent == nullptr) return;
  CallIds ids = GetCallIds(parent);
  thread_local absl::BitGen gen;
  std::string span;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) span += kHex[absl::Uniform(gen, 0, 16)];
  context->AddMetadata("x-request-id", ids.request_id);
  context->AddMetadata("traceparent",
                       absl::StrCat("00-", ids.trace_id, "-", span, "-", ids.trace_flags));
}

void RecordDownstreamCall(absl::string_view target, const grpc::Status& status,
                          absl::Time started) {
  static const bool described = [] {
    Metrics::Default().Describe("legwise_downstream_calls_total", "counter",
                                "Calls to other legwise services, by target and code.");
    Metrics::Default().Describe("legwise_downstream_call_duration_seconds", "histogram",
                                "Latency of calls to other legwise services, by target.");
    return true;
  }();
  (void)described;
  std::string code = GrpcCodeLabel(status.error_code());
  Metrics::Default().Increment("legwise_downstream_calls_total",
                               {{"target", std::string(target)}, {"grpc_code", code}});
  Metrics::Default().Observe("legwise_downstream_call_duration_seconds",
                             {{"target", std::string(target)}},
                             absl::ToDoubleSeconds(absl::Now() - started));
}

absl::Status CheckDownstreamHealth(grpc::Channel* channel, absl::Duration timeout) {
  auto stub = grpc::health::v1::Health::NewStub(
      std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  PrepareClientContext(&context, timeout);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("health check failed: ", status.error_message()));
  }
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError("downstream is not serving");
  }
  return absl::OkStatus();
}

}  // namespace legwise
