#include "gtest/gtest.h"
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

}  // namespace
}  // namespace legwise
