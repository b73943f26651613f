// Prometheus metrics: a registry of counters, gauges and latency histograms, rendered in the
// Prometheus text format by a small HTTP server on its own port (`--metrics_port`, GET /metrics).
// Labels must never carry health data or user ids: methods, status codes, dependency names only.
#ifndef LEGWISE_SERVICES_COMMON_METRICS_H_
#define LEGWISE_SERVICES_COMMON_METRICS_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace legwise {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Thread-safe metric registry.
class Metrics {
 public:
  // The process-wide registry every part of a service reports to.
  static Metrics& Default();

  // Sets the HELP text and TYPE ("counter", "gauge", "histogram") shown for a metric family.
  void Describe(absl::string_view name, absl::string_view type, absl::string_view help);
  // Adds `by` to a counter.
  void Increment(absl::string_view name, const MetricLabels& labels = {}, double by = 1);
  // Sets a gauge.
  void Set(absl::string_view name, const MetricLabels& labels, double value);
  // Records one observation (seconds, for latencies) in a histogram with fixed latency buckets.
  void Observe(absl::string_view name, const MetricLabels& labels, double value);

  // The current value of a counter or gauge, or a histogram's observation count; 0 when absent.
  double Value(absl::string_view name, const MetricLabels& labels = {}) const;

  // Everything in the Prometheus text exposition format (version 0.0.4).
  std::string Render() const;

 private:
  struct Series {
    double value = 0;               // counter or gauge value; histogram sum
    uint64_t count = 0;             // histogram count
    std::vector<uint64_t> buckets;  // histogram cumulative-to-be bucket counts
  };
  struct Family {
    std::string type = "counter";
    std::string help;
    std::map<std::string, Series> series;  // key: rendered label set
  };
  Series& GetSeries(absl::string_view name, const MetricLabels& labels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ ABSL_GUARDED_BY(mu_);
};

// Serves GET /metrics (and GET /healthz -> "ok") over plain HTTP/1.1 on its own port.
class MetricsHttpServer {
 public:
  explicit MetricsHttpServer(Metrics* metrics) : metrics_(metrics) {}
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds host:port (port 0 picks a free port) and starts serving on a thread.
  absl::Status Start(const std::string& host, int port);
  // Stops accepting and joins the thread.
  void Stop();
  // The bound port, after Start.
  int port() const { return port_; }

 private:
  void Serve();

  Metrics* metrics_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_METRICS_H_
