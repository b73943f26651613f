#include "services/common/metrics.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "prometheus/text_serializer.h"
#include "services/common/logging.h"

namespace legwise {
namespace {

prometheus::Labels ToLabels(const MetricLabels& labels) {
  prometheus::Labels out;
  for (const auto& [k, v] : labels) out[k] = v;
  return out;
}

// process_* as the Prometheus client libraries define them, read from /proc at scrape time.
class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto add = [&out](std::string name, std::string help, prometheus::MetricType type,
                      double value) {
      prometheus::MetricFamily f;
      f.name = std::move(name);
      f.help = std::move(help);
      f.type = type;
      prometheus::ClientMetric m;
      if (type == prometheus::MetricType::Counter) {
        m.counter.value = value;
      } else {
        m.gauge.value = value;
      }
      f.metric.push_back(m);
      out.push_back(std::move(f));
    };
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // Fields after the command name (which is in parentheses and may hold spaces).
    size_t close = stat.rfind(')');
    if (close != std::string::npos && ticks > 0) {
      std::vector<std::string> f =
          absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipWhitespace());
      // f[0] is field 3 (state): utime = 14, stime = 15, starttime = 22, vsize = 23, rss = 24.
      double utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
      if (f.size() > 21 && absl::SimpleAtod(f[11], &utime) && absl::SimpleAtod(f[12], &stime) &&
          absl::SimpleAtod(f[19], &start) && absl::SimpleAtod(f[20], &vsize) &&
          absl::SimpleAtod(f[21], &rss)) {
        add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
            prometheus::MetricType::Counter, (utime + stime) / ticks);
        add("process_virtual_memory_bytes", "Virtual memory size in bytes.",
            prometheus::MetricType::Gauge, vsize);
        add("process_resident_memory_bytes", "Resident memory size in bytes.",
            prometheus::MetricType::Gauge, rss * page);
        double boot = BootTime();
        if (boot > 0) {
          add("process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.",
              prometheus::MetricType::Gauge, boot + start / ticks);
        }
      }
    }
    int fds = 0;
    if (DIR* dir = ::opendir("/proc/self/fd"); dir != nullptr) {
      while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] != '.') ++fds;
      }
      ::closedir(dir);
      add("process_open_fds", "Number of open file descriptors.", prometheus::MetricType::Gauge,
          fds - 1);  // not counting the directory being read
    }
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      add("process_max_fds", "Maximum number of open file descriptors.",
          prometheus::MetricType::Gauge, static_cast<double>(limit.rlim_cur));
    }
    return out;
  }

 private:
  static double BootTime() {
    std::ifstream in("/proc/stat");
    std::string line;
    while (std::getline(in, line)) {
      double v = 0;
      if (line.rfind("btime ", 0) == 0 && absl::SimpleAtod(line.substr(6), &v)) return v;
    }
    return 0;
  }
};

}  // namespace

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double>* buckets =
      new std::vector<double>{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                              0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return *buckets;
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {}

Metrics& Metrics::Default() {
  static Metrics* metrics = [] {
    auto* m = new Metrics();
    m->EnableProcessMetrics();
    return m;
  }();
  return *metrics;
}

void Metrics::EnableProcessMetrics() {
  absl::MutexLock lock(&mu_);
  if (process_ == nullptr) process_ = std::make_shared<ProcessCollector>();
}

Metrics::Family* Metrics::GetFamily(absl::string_view name, Type type, absl::string_view help) {
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type == type) return &it->second;
    LogError("metric_type_conflict", {{"metric", name}});
    return nullptr;
  }
  Family family{type};
  try {
    switch (type) {
      case Type::kCounter:
        family.counter = &prometheus::BuildCounter()
                              .Name(std::string(name))
                              .Help(std::string(help))
                              .Register(*registry_);
        break;
      case Type::kGauge:
        family.gauge = &prometheus::BuildGauge()
                            .Name(std::string(name))
                            .Help(std::string(help))
                            .Register(*registry_);
        break;
      case Type::kHistogram:
        family.histogram = &prometheus::BuildHistogram()
                                .Name(std::string(name))
                                .Help(std::string(help))
                                .Register(*registry_);
        break;
    }
  } catch (const std::exception& e) {
    LogError("metric_register_failed", {{"metric", name}, {"error", e.what()}});
    return nullptr;
  }
  return &families_.emplace(std::string(name), family).first->second;
}

void Metrics::Describe(absl::string_view name, absl::string_view type, absl::string_view help) {
  Type t = type == "gauge" ? Type::kGauge : type == "histogram" ? Type::kHistogram : Type::kCounter;
  absl::MutexLock lock(&mu_);
  GetFamily(name, t, help);
}

void Metrics::Increment(absl::string_view name, const MetricLabels& labels, double by) {
  absl::MutexLock lock(&mu_);
  Family* f = GetFamily(name, Type::kCounter, "");
  if (f == nullptr || by < 0) return;
  try {
    f->counter->Add(ToLabels(labels)).Increment(by);
  } catch (const std::exception& e) {
    LogError("metric_labels_invalid", {{"metric", name}});
  }
}

void Metrics::Set(absl::string_view name, const MetricLabels& labels, double value) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it != families_.end() && it->second.type == Type::kCounter) {
    // A counter kept elsewhere (a component's cumulative stats) copied in: it only moves up.
    try {
      prometheus::Counter& c = it->second.counter->Add(ToLabels(labels));
      if (value > c.Value()) c.Increment(value - c.Value());
    } catch (const std::exception& e) {
      LogError("metric_labels_invalid", {{"metric", name}});
    }
    return;
  }
  Family* f = GetFamily(name, Type::kGauge, "");
  if (f == nullptr) return;
  try {
    f->gauge->Add(ToLabels(labels)).Set(value);
  } catch (const std::exception& e) {
    LogError("metric_labels_invalid", {{"metric", name}});
  }
}

void Metrics::Observe(absl::string_view name, const MetricLabels& labels, double value) {
  absl::MutexLock lock(&mu_);
  Family* f = GetFamily(name, Type::kHistogram, "");
  if (f == nullptr) return;
  try {
    f->histogram->Add(ToLabels(labels), LatencyBuckets()).Observe(value);
  } catch (const std::exception& e) {
    LogError("metric_labels_invalid", {{"metric", name}});
  }
}

double Metrics::Value(absl::string_view name, const MetricLabels& labels) const {
  std::vector<prometheus::MetricFamily> collected;
  {
    absl::MutexLock lock(&mu_);
    auto it = families_.find(name);
    if (it == families_.end()) return 0;
    const Family& f = it->second;
    collected = f.counter != nullptr ? f.counter->Collect()
                : f.gauge != nullptr ? f.gauge->Collect()
                                     : f.histogram->Collect();
  }
  prometheus::Labels want = ToLabels(labels);
  for (const prometheus::MetricFamily& family : collected) {
    for (const prometheus::ClientMetric& m : family.metric) {
      prometheus::Labels got;
      for (const auto& l : m.label) got[l.name] = l.value;
      if (got != want) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          return m.counter.value;
        case prometheus::MetricType::Gauge:
          return m.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(m.histogram.sample_count);
        default:
          return 0;
      }
    }
  }
  return 0;
}

std::string Metrics::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::shared_ptr<prometheus::Collectable> process;
  {
    absl::MutexLock lock(&mu_);
    process = process_;
  }
  if (process != nullptr) {
    for (auto& f : process->Collect()) families.push_back(std::move(f));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

// ---- HTTP ----

namespace {

// libmicrohttpd calls this once when headers arrive (then again for any body): requests here
// have no body, so the answer is queued at once.
MHD_Result Answer(void* cls, MHD_Connection* connection, const char* url, const char* method,
                  const char* /*version*/, const char* /*upload_data*/, size_t* upload_data_size,
                  void** /*con_cls*/) {
  auto* server = static_cast<MetricsHttpServer*>(cls);
  std::string body;
  unsigned int code = MHD_HTTP_OK;
  const char* type = "text/plain; charset=utf-8";
  bool get_or_head = std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0;
  if (!get_or_head) {
    code = MHD_HTTP_METHOD_NOT_ALLOWED;
    body = "method not allowed\n";
  } else if (std::strcmp(url, "/metrics") == 0) {
    body = server->metrics()->Render();
    type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (std::strcmp(url, "/healthz") == 0) {
    body = "ok\n";
  } else {
    code = MHD_HTTP_NOT_FOUND;
    body = "not found\n";
  }
  *upload_data_size = 0;  // any body is ignored
  MHD_Response* response =
      MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (!get_or_head) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  MHD_Result result = MHD_queue_response(connection, code, response);
  MHD_destroy_response(response);
  return result;
}

// A listening socket for host:port. "::" is dual stack (IPV6_V6ONLY off).
absl::StatusOr<int> Listen(const std::string& host_in, int port) {
  std::string host = host_in;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "::";
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v4);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics host must be an IPv4 or IPv6 address: ", host_in));
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 && family == AF_INET6 && host == "::" && errno == EAFNOSUPPORT) {
    // A kernel without IPv6 (some single-stack pods): "all interfaces" is then IPv4's, as gRPC
    // itself falls back for "[::]".
    return Listen("0.0.0.0", port);
  }
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int on = 1, off = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0 || ::listen(fd, 64) != 0) {
    std::string error = std::strerror(errno);
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot listen on metrics port ", host_in, ":", port, ": ", error));
  }
  return fd;
}

}  // namespace

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::Status MetricsHttpServer::Start(const std::string& host, int port) {
  absl::StatusOr<int> fd = Listen(host, port);
  if (!fd.ok()) return fd.status();
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &len);
  bool v6 = bound.ss_family == AF_INET6;
  port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                   : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  // One polling thread (epoll) for every connection: an idle connection costs a socket, not a
  // thread. Connections are bounded in number and idle time.
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  if (v6) flags |= MHD_USE_IPv6;
  daemon_ =
      MHD_start_daemon(flags, 0, nullptr, nullptr, &Answer, this, MHD_OPTION_LISTEN_SOCKET, *fd,
                       MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16u,
                       MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                       size_t{64 * 1024}, MHD_OPTION_END);
  if (daemon_ == nullptr) {
    ::close(*fd);
    return absl::InternalError("cannot start the metrics HTTP server");
  }
  return absl::OkStatus();
}

void MetricsHttpServer::Stop() {
  if (daemon_ == nullptr) return;
  MHD_Daemon* daemon = daemon_;
  daemon_ = nullptr;
  MHD_stop_daemon(daemon);  // closes the listening socket and every connection
}

}  // namespace legwise
