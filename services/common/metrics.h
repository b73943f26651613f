// Prometheus metrics on prometheus-cpp (Debian prometheus-cpp-dev): one registry per process,
// process_* metrics read from /proc, legwise_build_info, and the text exposition served over HTTP
// by libmicrohttpd on its own port (`--metrics_port`, GET or HEAD /metrics, /healthz), IPv4 or
// IPv6. prometheus-cpp's own exposer (civetweb) is not used: Debian's civetweb cannot bind IPv6,
// and it ties a worker thread to every idle keep-alive connection, so a handful of idle
// connections stall every scrape. libmicrohttpd polls all connections from one thread.
//
// Labels must never carry health data, user ids or anything a caller chose: methods the server
// serves (unknown ones are one fixed value), status codes, dependency names only.
#ifndef LEGWISE_SERVICES_COMMON_METRICS_H_
#define LEGWISE_SERVICES_COMMON_METRICS_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

struct MHD_Daemon;

namespace legwise {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Latency buckets (seconds) every legwise histogram uses unless told otherwise.
const std::vector<double>& LatencyBuckets();

// Thread-safe metric registry: a thin, exception-free front over a prometheus::Registry. Parts of
// a service that report by name use Describe/Increment/Set/Observe; hot paths take prometheus-cpp
// handles from registry() once and keep them.
class Metrics {
 public:
  Metrics();
  // The process-wide registry every part of a service reports to (with process_* metrics).
  static Metrics& Default();

  // Declares a family: TYPE ("counter", "gauge", "histogram") and HELP text. A family used before
  // it is described gets the type of its first use and an empty HELP.
  void Describe(absl::string_view name, absl::string_view type, absl::string_view help);
  // Adds `by` to a counter.
  void Increment(absl::string_view name, const MetricLabels& labels = {}, double by = 1);
  // Sets a gauge; on a family described as a counter, raises the counter to `value` (for
  // cumulative counts kept by a component and copied in; it never goes down).
  void Set(absl::string_view name, const MetricLabels& labels, double value);
  // Records one observation (seconds, for latencies) in a histogram with LatencyBuckets().
  void Observe(absl::string_view name, const MetricLabels& labels, double value);

  // The current value of a counter or gauge, or a histogram's observation count; 0 when absent.
  double Value(absl::string_view name, const MetricLabels& labels = {}) const;

  // Everything in the Prometheus text exposition format (version 0.0.4).
  std::string Render() const;

  // The underlying registry, for handles kept by hot paths.
  prometheus::Registry& registry() { return *registry_; }

  // Adds process_* metrics (CPU, memory, file descriptors, start time) to what Render shows.
  void EnableProcessMetrics();

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    prometheus::Family<prometheus::Counter>* counter = nullptr;
    prometheus::Family<prometheus::Gauge>* gauge = nullptr;
    prometheus::Family<prometheus::Histogram>* histogram = nullptr;
  };
  // The family `name`, created as `type` if new; null (and logged once) when it exists with
  // another type or the name is invalid.
  Family* GetFamily(absl::string_view name, Type type, absl::string_view help)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> process_;
  mutable absl::Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ ABSL_GUARDED_BY(mu_);
};

// Serves GET/HEAD /metrics (and /healthz -> "ok") over HTTP/1.1 on its own port.
class MetricsHttpServer {
 public:
  explicit MetricsHttpServer(Metrics* metrics) : metrics_(metrics) {}
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds host:port (port 0 picks a free port) and starts serving. `host` is an IPv4 or IPv6
  // address (brackets optional), "localhost", or empty for all interfaces; "::" and "0.0.0.0" are
  // dual stack where the kernel allows it.
  absl::Status Start(const std::string& host, int port);
  // Stops accepting and closes every connection.
  void Stop();
  // The bound port, after Start.
  int port() const { return port_; }

  // Internal: what one request gets (public for the C callback).
  Metrics* metrics() const { return metrics_; }

 private:
  Metrics* metrics_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_METRICS_H_
