#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <clocale>
#include <cstdlib>
#include <cwchar>
#include <random>

#include "gtest/gtest.h"
#include "services/common/grpc_metrics.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "tests/support/process.h"

namespace legwise {
namespace {

TEST(MetricsTest, CountersGaugesAndHistogramsRender) {
  Metrics m;
  m.Describe("legwise_x_total", "counter", "Things.");
  m.Increment("legwise_x_total", {{"code", "OK"}});
  m.Increment("legwise_x_total", {{"code", "OK"}}, 2);
  m.Set("legwise_up", {{"dependency", "redis"}}, 1);
  m.Observe("legwise_latency_seconds", {{"method", "/a.B/C"}}, 0.003);
  m.Observe("legwise_latency_seconds", {{"method", "/a.B/C"}}, 2.0);
  EXPECT_EQ(m.Value("legwise_x_total", {{"code", "OK"}}), 3);
  EXPECT_EQ(m.Value("legwise_latency_seconds", {{"method", "/a.B/C"}}), 2);
  std::string text = m.Render();
  EXPECT_NE(text.find("# TYPE legwise_x_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find("legwise_x_total{code=\"OK\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("legwise_up{dependency=\"redis\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("legwise_latency_seconds_bucket{method=\"/a.B/C\",le=\"0.005\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("legwise_latency_seconds_bucket{method=\"/a.B/C\",le=\"+Inf\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("legwise_latency_seconds_count{method=\"/a.B/C\"} 2"), std::string::npos);
  // A family used with another type is refused, not corrupted.
  m.Set("legwise_x_total", {}, 7);
  EXPECT_EQ(m.Value("legwise_x_total", {{"code", "OK"}}), 3);
  // Label names prometheus-cpp refuses are dropped without an exception.
  m.Increment("legwise_x_total", {{"__bad", "x"}});
}

TEST(MetricsTest, ProcessMetricsAreExposed) {
  Metrics m;
  m.EnableProcessMetrics();
  std::string text = m.Render();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    EXPECT_NE(text.find(absl::StrCat("\n", name, " ")), std::string::npos) << name << text;
  }
}

TEST(GrpcMetricsTest, UnknownMethodsShareOneSeries) {
  Metrics m;
  MethodTable table(&m, {{"a.B", "Get", false, false}, {"a.B", "Watch", false, true}});
  const MethodStats* get = table.Find("/a.B/Get");
  ASSERT_TRUE(get->known);
  EXPECT_EQ(get->type, "unary");
  EXPECT_EQ(table.Find("/a.B/Watch")->type, "server_stream");
  get->started->Increment();
  get->Handled(grpc::StatusCode::INVALID_ARGUMENT);
  for (int i = 0; i < 50; ++i) {
    std::string probe = absl::StrCat("/grpc.reflection.v", i, ".X/\xff\xfe", i);
    const MethodStats* s = table.Find(probe.c_str());
    EXPECT_EQ(s, table.unknown());
    s->started->Increment();
    s->Handled(grpc::StatusCode::UNIMPLEMENTED);
  }
  EXPECT_EQ(table.Find(nullptr), table.unknown());
  std::string text = m.Render();
  EXPECT_NE(text.find("grpc_server_handled_total{grpc_code=\"InvalidArgument\",grpc_method=\"Get\","
                      "grpc_service=\"a.B\",grpc_type=\"unary\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("grpc_server_handled_total{grpc_code=\"Unimplemented\",grpc_method=\"unknown\","
                "grpc_service=\"unknown\",grpc_type=\"unknown\"} 50"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("\xff"), std::string::npos);
}

TEST(MetricsHttpServerTest, ServesMetricsOverHttp) {
  Metrics m;
  m.Increment("legwise_hits_total");
  MetricsHttpServer server(&m);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  auto body = testing::HttpGet(server.port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_NE(body->find("legwise_hits_total 1"), std::string::npos);
  EXPECT_FALSE(testing::HttpGet(server.port(), "/nope").ok());
  server.Stop();
}

// Sends `request` to [addr]:port over TCP and returns the whole answer (the server closes after
// it: the requests say Connection: close).
std::string Exchange(int family, int port, const std::string& request) {
  int fd = ::socket(family, SOCK_STREAM, 0);
  sockaddr_storage storage{};
  socklen_t len;
  if (family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*a);
  }
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), len) == 0) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

TEST(MetricsHttpServerTest, HeadAndIpv6DualStack) {
  Metrics m;
  m.Increment("legwise_hits_total");
  MetricsHttpServer server(&m);
  ASSERT_TRUE(server.Start("::", 0).ok());
  std::string head = Exchange(AF_INET6, server.port(),
                              "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(head.find("legwise_hits_total"), std::string::npos) << head;  // no body
  std::string get4 = Exchange(AF_INET, server.port(),
                              "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(get4.find("legwise_hits_total 1"), std::string::npos) << get4;
  EXPECT_NE(get4.find("text/plain; version=0.0.4"), std::string::npos) << get4;
  std::string post = Exchange(
      AF_INET6, server.port(),
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  server.Stop();

  MetricsHttpServer v6only(&m);
  ASSERT_TRUE(v6only.Start("[::1]", 0).ok());
  EXPECT_NE(Exchange(AF_INET6, v6only.port(),
                     "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .find("ok"),
            std::string::npos);
  MetricsHttpServer bad(&m);
  EXPECT_FALSE(bad.Start("not-an-address", 0).ok());
}

TEST(LoggingTest, OneJsonObjectPerLineWithEscaping) {
  SetLogServiceName("triage");
  std::string line = FormatLogLine(
      LogLevel::kWarning, "rpc",
      {{"method", "/x.Y/Z"}, {"code", "OK"}, {"duration_ms", 1.5}, {"note", "a\"b\nc"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
  EXPECT_NE(line.find("\"level\":\"warning\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"service\":\"triage\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"duration_ms\":1.5"), std::string::npos) << line;
  EXPECT_NE(line.find("a\\\"b\\nc"), std::string::npos) << line;
  EXPECT_EQ(JsonEscape(std::string("\x01", 1)), "\\u0001");
}

// glibc's own UTF-8 decoder (not ours) decides whether a string is valid UTF-8.
bool IsValidUtf8(const std::string& s) {
  std::mbstate_t state{};
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    wchar_t wc;
    size_t n = std::mbrtowc(&wc, p, left, &state);
    if (n == static_cast<size_t>(-1) || n == static_cast<size_t>(-2)) return false;
    if (n == 0) n = 1;
    p += n;
    left -= n;
  }
  return true;
}

TEST(LoggingTest, AnyBytesGiveValidUtf8AndNoRawControlCharacters) {
  ASSERT_NE(std::setlocale(LC_CTYPE, "C.UTF-8"), nullptr);
  EXPECT_EQ(JsonEscape("\xff\xfeok"), "\\ufffd\\ufffdok");
  EXPECT_EQ(JsonEscape("caf\xc3\xa9"), "caf\xc3\xa9");             // valid UTF-8 kept as is
  EXPECT_EQ(JsonEscape("\xc0\xaf"), "\\ufffd\\ufffd");             // overlong '/'
  EXPECT_EQ(JsonEscape("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");  // a surrogate
  EXPECT_EQ(JsonEscape("\xe2\x80\xa8"), "\\u2028");
  std::mt19937 gen(13);
  for (int round = 0; round < 2000; ++round) {
    std::string in(static_cast<size_t>(gen() % 64), '\0');
    for (char& c : in) c = static_cast<char>(gen() & 0xFF);
    std::string line = FormatLogLine(LogLevel::kInfo, "rpc", {{"method", in}});
    ASSERT_TRUE(IsValidUtf8(line)) << round;
    for (unsigned char c : line) ASSERT_TRUE(c >= 0x20 && c != 0x7F) << round;
    ASSERT_EQ(line.back(), '}');
  }
}

}  // namespace
}  // namespace legwise
