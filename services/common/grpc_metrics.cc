#include "services/common/grpc_metrics.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "services/common/logging.h"

namespace legwise {
namespace {

constexpr char kUnknown[] = "unknown";

std::string TypeLabel(bool client_streaming, bool server_streaming) {
  if (client_streaming && server_streaming) return "bidi_stream";
  if (client_streaming) return "client_stream";
  if (server_streaming) return "server_stream";
  return "unary";
}

}  // namespace

const char* GrpcCodeLabel(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "Unknown";
}

void MethodStats::Handled(grpc::StatusCode code) const {
  int i = static_cast<int>(code);
  if (i < 0 || i >= 17) i = static_cast<int>(grpc::StatusCode::UNKNOWN);
  prometheus::Counter* c = handled[i].load(std::memory_order_acquire);
  if (c == nullptr) {
    c = &handled_family->Add({{"grpc_type", type},
                              {"grpc_service", service},
                              {"grpc_method", method},
                              {"grpc_code", GrpcCodeLabel(static_cast<grpc::StatusCode>(i))}});
    handled[i].store(c, std::memory_order_release);
  }
  c->Increment();
}

MethodTable::MethodTable(Metrics* metrics, const std::vector<Method>& methods) {
  prometheus::Registry& r = metrics->registry();
  started_ = &prometheus::BuildCounter()
                  .Name("grpc_server_started_total")
                  .Help("Total number of RPCs started on the server.")
                  .Register(r);
  handled_ = &prometheus::BuildCounter()
                  .Name("grpc_server_handled_total")
                  .Help(
                      "Total number of RPCs completed on the server, regardless of success or "
                      "failure.")
                  .Register(r);
  received_ = &prometheus::BuildCounter()
                   .Name("grpc_server_msg_received_total")
                   .Help("Total number of RPC stream messages received on the server.")
                   .Register(r);
  sent_ = &prometheus::BuildCounter()
               .Name("grpc_server_msg_sent_total")
               .Help("Total number of gRPC stream messages sent by the server.")
               .Register(r);
  seconds_ = &prometheus::BuildHistogram()
                  .Name("grpc_server_handling_seconds")
                  .Help(
                      "Histogram of response latency (seconds) of gRPC that had been "
                      "application-level handled by the server.")
                  .Register(r);
  for (const Method& m : methods) {
    std::unique_ptr<MethodStats> stats = Make(&m);
    std::string path = stats->path;
    by_path_.emplace(std::move(path), std::move(stats));
  }
  unknown_ = Make(nullptr);
}

std::unique_ptr<MethodStats> MethodTable::Make(const Method* m) {
  auto s = std::make_unique<MethodStats>();
  if (m != nullptr) {
    s->path = absl::StrCat("/", m->service, "/", m->method);
    s->service = m->service;
    s->method = m->method;
    s->type = TypeLabel(m->client_streaming, m->server_streaming);
    s->known = true;
  } else {
    s->path = s->service = s->method = s->type = kUnknown;
  }
  prometheus::Labels labels = {
      {"grpc_type", s->type}, {"grpc_service", s->service}, {"grpc_method", s->method}};
  s->started = &started_->Add(labels);
  s->received = &received_->Add(labels);
  s->sent = &sent_->Add(labels);
  s->seconds = &seconds_->Add(labels, LatencyBuckets());
  s->handled_family = handled_;
  return s;
}

const MethodStats* MethodTable::Find(const char* path) const {
  if (path == nullptr) return unknown_.get();
  auto it = by_path_.find(absl::string_view(path));
  return it == by_path_.end() ? unknown_.get() : it->second.get();
}

std::vector<MethodTable::Method> MethodTable::Describe(
    const std::vector<std::string>& service_names, std::vector<std::string>* missing) {
  std::vector<Method> out = {
      {"grpc.health.v1.Health", "Check", false, false},
      {"grpc.health.v1.Health", "Watch", false, true},
      {"grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo", true, true},
      {"grpc.reflection.v1.ServerReflection", "ServerReflectionInfo", true, true},
  };
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : service_names) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    if (service == nullptr) {
      if (missing != nullptr) missing->push_back(name);
      continue;
    }
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* m = service->method(i);
      out.push_back({name, m->name(), m->client_streaming(), m->server_streaming()});
    }
  }
  return out;
}

}  // namespace legwise
