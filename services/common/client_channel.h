// Outgoing gRPC calls between legwise services: one channel per downstream, balanced across pods
// (dns:/// + round_robin), keepalive; and a client context with a deadline (every outgoing call has
// one) carrying the caller's request id and W3C trace context.
#ifndef LEGWISE_SERVICES_COMMON_CLIENT_CHANNEL_H_
#define LEGWISE_SERVICES_COMMON_CLIENT_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server_context.h"

namespace legwise {

// A channel to `address` ("host:port"; a bare host:port is resolved with dns:/// so every pod
// behind a headless Service gets calls), with round_robin balancing and keepalive. `credentials`
// default to plaintext; see MakeChannelCredentials for TLS and mTLS.
std::shared_ptr<grpc::Channel> MakeClientChannel(
    const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

// Sets the deadline and propagates x-request-id and traceparent (same trace, new span) from the
// call being served, when there is one.
void PrepareClientContext(grpc::ClientContext* context, absl::Duration timeout,
                          const grpc::ServerContextBase* parent = nullptr);

// Counts a downstream call's outcome in legwise_downstream_calls_total{target,code}.
void RecordDownstreamCall(absl::string_view target, const grpc::Status& status, absl::Time started);

// Checks a downstream's grpc.health.v1 status ("" service) with a deadline: OK when SERVING.
absl::Status CheckDownstreamHealth(grpc::Channel* channel, absl::Duration timeout);

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_CLIENT_CHANNEL_H_
