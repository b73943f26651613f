#include "services/common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/logging.h"

namespace legwise {
namespace {

constexpr std::array<double, 14> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                             0.025,  0.05,    0.1,    0.25,  0.5,    1,     5};

std::string EscapeLabel(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string LabelKey(const MetricLabels& labels) {
  MetricLabels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : sorted) parts.push_back(absl::StrCat(k, "=\"", EscapeLabel(v), "\""));
  return absl::StrJoin(parts, ",");
}

std::string Braced(absl::string_view key, absl::string_view extra = "") {
  if (key.empty() && extra.empty()) return "";
  if (key.empty()) return absl::StrCat("{", extra, "}");
  if (extra.empty()) return absl::StrCat("{", key, "}");
  return absl::StrCat("{", key, ",", extra, "}");
}

std::string FormatDouble(double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v)))
    return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrCat(v);
}

}  // namespace

Metrics& Metrics::Default() {
  static Metrics* metrics = new Metrics();
  return *metrics;
}

void Metrics::Describe(absl::string_view name, absl::string_view type, absl::string_view help) {
  absl::MutexLock lock(&mu_);
  Family& f = families_[std::string(name)];
  f.type = std::string(type);
  f.help = std::string(help);
}

Metrics::Series& Metrics::GetSeries(absl::string_view name, const MetricLabels& labels) {
  auto it = families_.find(name);
  if (it == families_.end()) it = families_.emplace(std::string(name), Family{}).first;
  return it->second.series[LabelKey(labels)];
}

void Metrics::Increment(absl::string_view name, const MetricLabels& labels, double by) {
  absl::MutexLock lock(&mu_);
  GetSeries(name, labels).value += by;
}

void Metrics::Set(absl::string_view name, const MetricLabels& labels, double value) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.type = "gauge";
  }
  it->second.series[LabelKey(labels)].value = value;
}

void Metrics::Observe(absl::string_view name, const MetricLabels& labels, double value) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.type = "histogram";
  }
  Series& s = it->second.series[LabelKey(labels)];
  if (s.buckets.empty()) s.buckets.assign(kBuckets.size(), 0);
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (value <= kBuckets[i]) {
      ++s.buckets[i];
      break;
    }
  }
  s.value += value;
  ++s.count;
}

double Metrics::Value(absl::string_view name, const MetricLabels& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.series.find(LabelKey(labels));
  if (s == it->second.series.end()) return 0;
  return it->second.type == "histogram" ? static_cast<double>(s->second.count) : s->second.value;
}

std::string Metrics::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    if (!family.help.empty()) absl::StrAppend(&out, "# HELP ", name, " ", family.help, "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ", family.type, "\n");
    for (const auto& [key, s] : family.series) {
      if (family.type != "histogram") {
        absl::StrAppend(&out, name, Braced(key), " ", FormatDouble(s.value), "\n");
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < kBuckets.size(); ++i) {
        cumulative += i < s.buckets.size() ? s.buckets[i] : 0;
        absl::StrAppend(&out, name, "_bucket",
                        Braced(key, absl::StrCat("le=\"", kBuckets[i], "\"")), " ", cumulative,
                        "\n");
      }
      absl::StrAppend(&out, name, "_bucket", Braced(key, "le=\"+Inf\""), " ", s.count, "\n");
      absl::StrAppend(&out, name, "_sum", Braced(key), " ", s.value, "\n");
      absl::StrAppend(&out, name, "_count", Braced(key), " ", s.count, "\n");
    }
  }
  return out;
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::Status MetricsHttpServer::Start(const std::string& host, int port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string bind_host = host.empty() || host == "[::]" ? "0.0.0.0" : host;
  if (bind_host == "localhost") bind_host = "127.0.0.1";
  if (::inet_pton(AF_INET, bind_host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("metrics host must be an IPv4 address: ", host));
  }
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    std::string err = std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return absl::UnavailableError(absl::StrCat("metrics port ", port, ": ", err));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
  return absl::OkStatus();
}

void MetricsHttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void MetricsHttpServer::Serve() {
  while (!stopping_.load()) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;  // wake up regularly to notice Stop()
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    std::string request;
    char buf[2048];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string status = "200 OK";
    std::string type = "text/plain; version=0.0.4; charset=utf-8";
    std::string body;
    if (absl::StartsWith(request, "GET /metrics ") || absl::StartsWith(request, "GET /metrics?")) {
      body = metrics_->Render();
    } else if (absl::StartsWith(request, "GET /healthz ")) {
      body = "ok\n";
    } else {
      status = "404 Not Found";
      body = "not found: try /metrics\n";
    }
    std::string response =
        absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                     "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
    size_t sent = 0;
    while (sent < response.size()) {
      ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::close(fd);
  }
}

}  // namespace legwise
