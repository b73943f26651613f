// legwise-gateway's request handling: CORS, per-address rate limits, the transcoded JSON routes
// (one per google.api.http annotation), the SSE nudge stream, and the extra endpoints (OpenAPI,
// CDS Hooks, Infobutton) registered by their own modules.
#ifndef LEGWISE_SERVICES_GATEWAY_GATEWAY_H_
#define LEGWISE_SERVICES_GATEWAY_GATEWAY_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/rpc_method.h"
#include "services/common/security.h"
#include "services/gateway/http_server.h"
#include "services/gateway/transcoder.h"

namespace legwise::gateway {

struct GatewayOptions {
  // Origins (scheme://host[:port]) whose browsers may call us; nothing else gets CORS headers, and
  // a request carrying any other Origin is refused.
  std::vector<std::string> cors_allowed_origins;
  // Deadline of every unary backend call.
  absl::Duration backend_timeout = absl::Seconds(5);
  // An SSE stream is ended after this (the browser reconnects with Last-Event-ID).
  absl::Duration sse_max_duration = absl::Minutes(10);
  // Comment lines sent on an idle SSE stream, so proxies keep it and a vanished client is noticed.
  absl::Duration sse_heartbeat = absl::Seconds(15);
  // SSE streams open at once (each holds an HTTP worker); more are refused with 503.
  int max_sse_streams = 32;
  // Requests per second (and burst) one client address may make; 0 disables.
  int rate_limit_per_second = 100;
  int rate_limit_burst = 200;
};

// A handler for a path outside the transcoded routes. Returns false when the path is not its.
using ExtraHandler = std::function<bool(HttpRequest&, HttpWriter&, HttpResponse* cors_base)>;

// Calls a backend RPC with its request message; answers its response message. Used by the CDS
// Hooks and Infobutton modules too, with the same deadline and forwarded metadata.
class Backends {
 public:
  Backends(std::shared_ptr<grpc::Channel> triage, std::shared_ptr<grpc::Channel> content,
           std::shared_ptr<grpc::Channel> reminder)
      : triage_(std::move(triage)), content_(std::move(content)), reminder_(std::move(reminder)) {}
  // The channel serving a full service name, or null.
  std::shared_ptr<grpc::Channel> ChannelFor(absl::string_view service) const;
  // A blocking unary call through the generic stub.
  grpc::Status Call(grpc::ClientContext* context, const std::string& grpc_path,
                    const google::protobuf::Message& request,
                    google::protobuf::Message* response) const;
  // The same call on binary (serialized) messages: no parse and re-serialize in the gateway when
  // both sides are bytes already (the transcoded JSON routes).
  grpc::Status CallBinary(grpc::ClientContext* context, const std::string& grpc_path,
                          const std::string& request, std::string* response) const;

 private:
  const grpc::internal::RpcMethod* Method(const std::string& grpc_path) const;
  std::shared_ptr<grpc::Channel> triage_, content_, reminder_;
  mutable absl::Mutex methods_mu_;
  mutable absl::node_hash_map<std::string, std::unique_ptr<grpc::internal::RpcMethod>> methods_
      ABSL_GUARDED_BY(methods_mu_);
};

// The metadata every backend call carries: deadline, the caller's authorization, request id and
// trace context (validated; a malformed one is replaced, never forwarded).
void PrepareBackendContext(const HttpRequest& request, absl::Duration timeout,
                           grpc::ClientContext* context);

class Gateway {
 public:
  Gateway(GatewayOptions options, std::shared_ptr<Backends> backends, std::vector<Route> routes);

  // Adds an endpoint module (tried in order before the transcoded routes).
  void AddExtraHandler(ExtraHandler handler) { extras_.push_back(std::move(handler)); }

  // The HttpServer handler.
  void Handle(HttpRequest& request, HttpWriter& writer);

  // Graceful shutdown, step 1: new requests get 503, SSE streams end.
  void BeginDrain();

  const std::vector<Route>& routes() const { return routes_; }

  // CORS: true when the request's Origin (if any) may call us; then `response` gets the headers.
  bool ApplyCors(const HttpRequest& request, HttpResponse* response) const;

 private:
  void HandleRoute(const Route& route, HttpRequest& request,
                   const std::vector<std::pair<std::string, std::string>>& vars,
                   const std::vector<std::pair<std::string, std::string>>& query,
                   HttpResponse* response);
  void HandleStream(const Route& route, HttpRequest& request,
                    const std::vector<std::pair<std::string, std::string>>& vars,
                    const std::vector<std::pair<std::string, std::string>>& query,
                    HttpResponse* base, HttpWriter& writer);

  GatewayOptions options_;
  absl::flat_hash_set<std::string> allowed_origins_;
  std::shared_ptr<Backends> backends_;
  std::vector<Route> routes_;
  std::vector<ExtraHandler> extras_;
  RateLimiter limiter_;
  std::atomic<bool> draining_{false};
  std::atomic<int> sse_streams_{0};
  absl::Mutex streams_mu_;
  absl::flat_hash_set<grpc::ClientContext*> streams_ ABSL_GUARDED_BY(streams_mu_);
};

// Writes a gRPC status as a google.rpc.Status JSON answer with its AIP-193 HTTP status.
void SetError(const grpc::Status& status, HttpResponse* response);

}  // namespace legwise::gateway

#endif  // LEGWISE_SERVICES_GATEWAY_GATEWAY_H_
