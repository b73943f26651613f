#include "services/gateway/gateway.h"

#include <thread>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "services/common/client_channel.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "services/common/server_runner.h"

namespace legwise::gateway {
namespace {

std::string RandomHex(int n) {
  thread_local absl::BitGen gen;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < n; ++i) out += kHex[absl::Uniform(gen, 0, 16)];
  return out;
}

bool ValidRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':') return false;
  }
  return true;
}

void CountRequest(absl::string_view route, int status) {
  Metrics::Default().Increment("legwise_http_requests_total",
                               {{"route", std::string(route)}, {"code", absl::StrCat(status)}});
}

}  // namespace

std::shared_ptr<grpc::Channel> Backends::ChannelFor(absl::string_view service) const {
  if (absl::StartsWith(service, "legwise.triage.")) return triage_;
  if (absl::StartsWith(service, "legwise.content.")) return content_;
  if (absl::StartsWith(service, "legwise.reminder.")) return reminder_;
  return nullptr;
}

const grpc::internal::RpcMethod* Backends::Method(const std::string& grpc_path) const {
  absl::MutexLock lock(&methods_mu_);
  auto it = methods_.find(grpc_path);
  if (it != methods_.end()) return it->second.get();
  absl::string_view service = absl::string_view(grpc_path).substr(1);
  service = service.substr(0, service.find('/'));
  std::shared_ptr<grpc::Channel> channel = ChannelFor(service);
  if (channel == nullptr) return nullptr;
  // The key's storage is stable (node map): the RpcMethod keeps a pointer to the name.
  auto [pos, inserted] = methods_.try_emplace(grpc_path, nullptr);
  pos->second = std::make_unique<grpc::internal::RpcMethod>(
      pos->first.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, channel);
  return pos->second.get();
}

grpc::Status Backends::Call(grpc::ClientContext* context, const std::string& grpc_path,
                            const google::protobuf::Message& request,
                            google::protobuf::Message* response) const {
  const grpc::internal::RpcMethod* method = Method(grpc_path);
  absl::string_view service = absl::string_view(grpc_path).substr(1);
  service = service.substr(0, service.find('/'));
  if (method == nullptr) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no backend");
  // The same blocking unary call generated stubs make, on the message base class: no extra
  // thread hop and no copy through a ByteBuffer.
  const absl::Time started = absl::Now();
  grpc::Status result =
      grpc::internal::BlockingUnaryCall<google::protobuf::Message, google::protobuf::Message>(
          ChannelFor(service).get(), *method, context, request, response);
  RecordDownstreamCall(service, result, started);
  return result;
}

grpc::Status Backends::CallBinary(grpc::ClientContext* context, const std::string& grpc_path,
                                  const std::string& request, std::string* response) const {
  const grpc::internal::RpcMethod* method = Method(grpc_path);
  absl::string_view service = absl::string_view(grpc_path).substr(1);
  service = service.substr(0, service.find('/'));
  if (method == nullptr) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no backend");
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  const absl::Time started = absl::Now();
  grpc::Status result = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      ChannelFor(service).get(), *method, context, request_buffer, &response_buffer);
  RecordDownstreamCall(service, result, started);
  if (result.ok()) {
    response->clear();
    std::vector<grpc::Slice> slices;
    if (!response_buffer.Dump(&slices).ok()) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "cannot read the backend's answer");
    }
    for (const grpc::Slice& s : slices) {
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return result;
}

void PrepareBackendContext(const HttpRequest& request, absl::Duration timeout,
                           grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (absl::optional<std::string> auth = request.Header("Authorization")) {
    context->AddMetadata("authorization", *auth);
  }
  absl::optional<std::string> rid = request.Header("X-Request-Id");
  context->AddMetadata("x-request-id", rid && ValidRequestId(*rid) ? *rid : RandomHex(32));
  CallIds ids;
  absl::optional<std::string> tp = request.Header("traceparent");
  if (!tp || !ParseTraceparent(*tp, &ids)) ids.trace_id = RandomHex(32);
  context->AddMetadata("traceparent",
                       absl::StrCat("00-", ids.trace_id, "-", RandomHex(16), "-", ids.trace_flags));
}

void SetError(const grpc::Status& status, HttpResponse* response) {
  response->status = HttpStatusForCode(status.error_code());
  response->headers.emplace_back("Content-Type", "application/json");
  response->body = StatusToJson(status);
}

Gateway::Gateway(GatewayOptions options, std::shared_ptr<Backends> backends,
                 std::vector<Route> routes)
    : options_(std::move(options)),
      backends_(std::move(backends)),
      routes_(std::move(routes)),
      limiter_(options_.rate_limit_per_second, options_.rate_limit_burst) {
  for (const std::string& o : options_.cors_allowed_origins) allowed_origins_.insert(o);
  Metrics& m = Metrics::Default();
  m.Describe("legwise_http_requests_total", "counter",
             "HTTP requests by route template and status.");
  m.Describe("legwise_http_request_seconds", "histogram",
             "HTTP request latency by route template.");
  m.Describe("legwise_sse_streams", "gauge", "Open SSE nudge streams.");
}

bool Gateway::ApplyCors(const HttpRequest& request, HttpResponse* response) const {
  absl::optional<std::string> origin = request.Header("Origin");
  if (!origin) return true;  // not a browser's cross-origin call
  if (!allowed_origins_.contains(*origin)) return false;
  response->headers.emplace_back("Access-Control-Allow-Origin", *origin);
  response->headers.emplace_back("Vary", "Origin");
  response->headers.emplace_back("Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
  return true;
}

void Gateway::BeginDrain() {
  draining_.store(true);
  absl::MutexLock lock(&streams_mu_);
  for (grpc::ClientContext* c : streams_) c->TryCancel();
}

void Gateway::Handle(HttpRequest& request, HttpWriter& writer) {
  absl::Time start = absl::Now();
  HttpResponse response;
  std::string route_label = "unmatched";
  auto finish = [&] {
    CountRequest(route_label, response.status);
    Metrics::Default().Observe("legwise_http_request_seconds", {{"route", route_label}},
                               absl::ToDoubleSeconds(absl::Now() - start));
  };
  if (draining_.load()) {
    response.headers.emplace_back("Connection", "close");
    SetError(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the gateway is shutting down"),
             &response);
    writer.Send(response);
    return finish();
  }
  if (!limiter_.Allow(request.remote_addr(), absl::Now())) {
    response.headers.emplace_back("Retry-After", "1");
    SetError(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "rate limit exceeded"), &response);
    writer.Send(response);
    return finish();
  }
  if (!ApplyCors(request, &response)) {
    route_label = "cors_refused";
    SetError(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "origin not allowed"), &response);
    writer.Send(response);
    return finish();
  }
  if (request.method() == "OPTIONS") {
    // A CORS preflight from an allowed origin (or a plain OPTIONS): no body.
    route_label = "preflight";
    response.status = 204;
    if (request.Header("Origin")) {
      response.headers.emplace_back("Access-Control-Allow-Methods",
                                    "GET, POST, PUT, PATCH, DELETE, OPTIONS");
      response.headers.emplace_back(
          "Access-Control-Allow-Headers",
          "Authorization, Content-Type, X-Request-Id, traceparent, Last-Event-ID");
      response.headers.emplace_back("Access-Control-Max-Age", "600");
    }
    writer.Send(response);
    return finish();
  }
  for (ExtraHandler& extra : extras_) {
    HttpResponse base = response;
    if (extra(request, writer, &base)) {
      route_label = "extra";
      response.status = base.status;
      return finish();
    }
  }
  std::vector<std::pair<std::string, std::string>> vars, query;
  bool method_mismatch = false;
  const Route* route =
      MatchRoute(routes_, request.method(), request.raw_path(), &vars, &method_mismatch);
  if (route == nullptr) {
    if (method_mismatch) {
      SetError(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                            absl::StrCat("method ", request.method(), " not allowed here")),
               &response);
      response.status = 405;
    } else {
      SetError(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such route"), &response);
    }
    writer.Send(response);
    return finish();
  }
  route_label = route->path_template;
  if (absl::Status s = ParseQuery(request.raw_query(), &query); !s.ok()) {
    SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message())), &response);
    writer.Send(response);
    return finish();
  }
  if (route->method->server_streaming()) {
    HandleStream(*route, request, vars, query, &response, writer);
    return finish();
  }
  HandleRoute(*route, request, vars, query, &response);
  writer.Send(response);
  finish();
}

void Gateway::HandleRoute(const Route& route, HttpRequest& request,
                          const std::vector<std::pair<std::string, std::string>>& vars,
                          const std::vector<std::pair<std::string, std::string>>& query,
                          HttpResponse* response) {
  std::string body;
  if (absl::Status s = request.ReadBody(&body); !s.ok()) {
    SetError(grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message())),
             response);
    if (s.code() == absl::StatusCode::kResourceExhausted) response->status = 413;
    return;
  }
  if (!route.body.empty() && !body.empty()) {
    absl::optional<std::string> ct = request.Header("Content-Type");
    if (!ct || !absl::StartsWith(absl::AsciiStrToLower(*ct), "application/json")) {
      SetError(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Content-Type must be application/json"),
          response);
      response->status = 415;
      return;
    }
  }
  // Bytes all the way: the body's binary form goes to the backend, and the backend's answer is
  // printed from its bytes (no message objects built and torn down in between).
  std::string request_bytes, response_bytes;
  if (absl::Status s = BuildRequestBinary(route, body, vars, query, &request_bytes); !s.ok()) {
    SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message())), response);
    return;
  }
  grpc::ClientContext context;
  PrepareBackendContext(request, options_.backend_timeout, &context);
  grpc::Status status =
      backends_->CallBinary(&context, route.grpc_path, request_bytes, &response_bytes);
  if (!status.ok()) {
    SetError(status, response);
    return;
  }
  // Without default-valued fields, as the proto3 JSON mapping allows (see JsonDefaults).
  absl::StatusOr<std::string> json =
      BinaryToJson(route.method->output_type(), response_bytes, JsonDefaults::kOmit);
  if (!json.ok()) {
    SetError(grpc::Status(grpc::StatusCode::INTERNAL, "cannot print the answer"), response);
    return;
  }
  response->status = 200;
  response->headers.emplace_back("Content-Type", "application/json");
  response->body = std::move(*json);
}

void Gateway::HandleStream(const Route& route, HttpRequest& request,
                           const std::vector<std::pair<std::string, std::string>>& vars,
                           const std::vector<std::pair<std::string, std::string>>& query,
                           HttpResponse* base, HttpWriter& writer) {
  reminder::v1::StreamNudgesRequest req;
  if (absl::Status s = BuildRequest(route, "", vars, query, &req); !s.ok()) {
    SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message())), base);
    writer.Send(*base);
    return;
  }
  // EventSource reconnects with the id of the last event it got.
  if (absl::optional<std::string> last = request.Header("Last-Event-ID")) {
    if (last->size() > 512) {
      SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Last-Event-ID too long"), base);
      writer.Send(*base);
      return;
    }
    if (req.resume_token().empty()) req.set_resume_token(*last);
  }
  if (sse_streams_.fetch_add(1) >= options_.max_sse_streams) {
    sse_streams_.fetch_sub(1);
    base->headers.emplace_back("Retry-After", "5");
    SetError(grpc::Status(grpc::StatusCode::UNAVAILABLE, "too many open streams"), base);
    base->status = 503;
    writer.Send(*base);
    return;
  }
  Metrics::Default().Set("legwise_sse_streams", {}, sse_streams_.load());
  grpc::ClientContext context;
  PrepareBackendContext(request, options_.sse_max_duration, &context);
  {
    absl::MutexLock lock(&streams_mu_);
    streams_.insert(&context);
  }
  if (draining_.load()) context.TryCancel();
  auto stub = reminder::v1::ReminderService::NewStub(backends_->ChannelFor("legwise.reminder."));
  const absl::Time started = absl::Now();
  std::unique_ptr<grpc::ClientReader<reminder::v1::Nudge>> reader =
      stub->StreamNudges(&context, req);
  std::vector<std::pair<std::string, std::string>> headers = base->headers;
  headers.emplace_back("Content-Type", "text/event-stream");
  headers.emplace_back("Cache-Control", "no-store");
  headers.emplace_back("X-Accel-Buffering", "no");
  absl::Mutex write_mu;
  bool client_gone = !writer.StartStream(200, headers);
  if (!client_gone) client_gone = !writer.Write("retry: 2000\n\n");
  absl::Notification stream_done;
  // Heartbeats: keep proxies from closing an idle stream and notice a client that left.
  std::thread heartbeat([&] {
    while (!stream_done.WaitForNotificationWithTimeout(options_.sse_heartbeat)) {
      absl::MutexLock lock(&write_mu);
      if (!writer.Write(": keep-alive\n\n")) {
        context.TryCancel();
        return;
      }
    }
  });
  if (client_gone) context.TryCancel();
  reminder::v1::Nudge nudge;
  while (reader->Read(&nudge)) {
    absl::StatusOr<std::string> json = MessageToJson(nudge, JsonDefaults::kOmit);
    if (!json.ok()) continue;
    std::string event;
    // The id is the nudge's resume token exactly as the reminder service gave it (an empty one is
    // sent as no id, so the browser keeps its last good one).
    if (!nudge.resume_token().empty() &&
        nudge.resume_token().find_first_of("\r\n") == std::string::npos) {
      absl::StrAppend(&event, "id: ", nudge.resume_token(), "\n");
    }
    absl::StrAppend(&event, "event: nudge\ndata: ", *json, "\n\n");
    absl::MutexLock lock(&write_mu);
    if (!writer.Write(event)) {
      context.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  RecordDownstreamCall("legwise.reminder.v1.ReminderService", status, started);
  stream_done.Notify();
  heartbeat.join();
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED &&
      status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
    // The answer has begun: the error goes in an event of its own, then the stream ends.
    absl::MutexLock lock(&write_mu);
    writer.Write(absl::StrCat("event: error\ndata: ", StatusToJson(status), "\n\n"));
  }
  {
    absl::MutexLock lock(&streams_mu_);
    streams_.erase(&context);
  }
  sse_streams_.fetch_sub(1);
  Metrics::Default().Set("legwise_sse_streams", {}, sse_streams_.load());
  base->status = 200;
}

}  // namespace legwise::gateway
