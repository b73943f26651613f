// The standard gRPC server metrics (the names and labels of go-grpc-prometheus, which community
// dashboards and alerts read): grpc_server_started_total, grpc_server_handled_total,
// grpc_server_handling_seconds, grpc_server_msg_received_total and grpc_server_msg_sent_total,
// labelled grpc_type, grpc_service, grpc_method (and grpc_code).
//
// Label values come only from the methods the server serves, fixed when it starts: a call to any
// other method (a reflection probe, a typo, an attack) counts under grpc_service="unknown",
// grpc_method="unknown", so no caller can add a series or put its bytes in a label.
#ifndef LEGWISE_SERVICES_COMMON_GRPC_METRICS_H_
#define LEGWISE_SERVICES_COMMON_GRPC_METRICS_H_

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "services/common/metrics.h"

namespace legwise {

// One served method's labels and metric handles.
struct MethodStats {
  std::string path;     // "/pkg.Service/Method", or "unknown"
  std::string service;  // "pkg.Service", or "unknown"
  std::string method;   // "Method", or "unknown"
  std::string type;     // unary, client_stream, server_stream, bidi_stream (or "unknown")
  bool known = false;
  prometheus::Counter* started = nullptr;
  prometheus::Counter* received = nullptr;
  prometheus::Counter* sent = nullptr;
  prometheus::Histogram* seconds = nullptr;
  prometheus::Family<prometheus::Counter>* handled_family = nullptr;
  // Indexed by grpc::StatusCode (0..16); created on first use (Family::Add returns the same
  // counter for the same labels, so a race only stores the same pointer twice).
  mutable std::array<std::atomic<prometheus::Counter*>, 17> handled{};

  // Counts one finished call.
  void Handled(grpc::StatusCode code) const;
};

// go-grpc-prometheus' grpc_code value for a status code ("OK", "Canceled", "InvalidArgument"...).
const char* GrpcCodeLabel(grpc::StatusCode code);

class MethodTable {
 public:
  struct Method {
    std::string service;  // full name
    std::string method;   // short name
    bool client_streaming = false;
    bool server_streaming = false;
  };

  // Registers the metric families in `metrics` and one set of series per method, plus "unknown".
  MethodTable(Metrics* metrics, const std::vector<Method>& methods);

  // The methods of `service_names` as the generated descriptor pool describes them (services not
  // in it are skipped and returned in `*missing`), plus grpc.health.v1.Health and server
  // reflection (v1 and v1alpha).
  static std::vector<Method> Describe(const std::vector<std::string>& service_names,
                                      std::vector<std::string>* missing);

  // The stats for a call's path; the "unknown" stats for anything not served (or null).
  const MethodStats* Find(const char* path) const;
  const MethodStats* unknown() const { return unknown_.get(); }

 private:
  std::unique_ptr<MethodStats> Make(const Method* m);

  prometheus::Family<prometheus::Counter>* started_;
  prometheus::Family<prometheus::Counter>* handled_;
  prometheus::Family<prometheus::Counter>* received_;
  prometheus::Family<prometheus::Counter>* sent_;
  prometheus::Family<prometheus::Histogram>* seconds_;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodStats>> by_path_;
  std::unique_ptr<MethodStats> unknown_;
};

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_GRPC_METRICS_H_
