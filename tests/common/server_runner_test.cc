// The runner in-process: health per dependency follows the probes, metrics are served, ids parse.
#include "services/common/server_runner.h"

#include <atomic>

#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace legwise {
namespace {

TEST(TraceparentTest, ParsesValidAndRejectsMalformed) {
  CallIds ids;
  ASSERT_TRUE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &ids));
  EXPECT_EQ(ids.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ids.span_id, "00f067aa0ba902b7");
  CallIds untouched;
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
    EXPECT_FALSE(ParseTraceparent(bad, &untouched)) << bad;
  }
}

TEST(ServerRunnerTest, HealthFollowsRequiredAndOptionalDependencies) {
  std::atomic<bool> store_up{false};
  std::atomic<bool> cache_up{true};
  ServerOptions options;
  options.service_name = "test";
  options.port = testing::FreePort();
  options.metrics_port = testing::FreePort();
  options.health_interval = absl::Milliseconds(50);
  options.shutdown_grace = absl::Seconds(2);
  ServerRunner runner(options);
  runner.AddDependency(
      "store", [&] { return store_up ? absl::OkStatus() : absl::UnavailableError("down"); }, true);
  runner.AddDependency(
      "cache", [&] { return cache_up ? absl::OkStatus() : absl::UnavailableError("down"); }, false);
  ASSERT_TRUE(runner.Start().ok());
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", runner.port()),
                                     grpc::InsecureChannelCredentials());
  constexpr absl::Duration kWait = absl::Seconds(5);

  EXPECT_TRUE(testing::WaitForHealth(channel.get(), "liveness", true, kWait).ok());
  EXPECT_TRUE(testing::WaitForHealth(channel.get(), "", false, kWait).ok())
      << "a required dependency down means not ready";
  EXPECT_TRUE(testing::WaitForHealth(channel.get(), "dependency/store", false, kWait).ok());

  store_up = true;
  EXPECT_TRUE(testing::WaitForHealth(channel.get(), "", true, kWait).ok());
  cache_up = false;
  EXPECT_TRUE(testing::WaitForHealth(channel.get(), "dependency/cache", false, kWait).ok());
  EXPECT_TRUE(testing::WaitForHealth(channel.get(), "", true, kWait).ok())
      << "an optional dependency never gates readiness";

  auto metrics = testing::HttpGet(runner.metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->find("legwise_dependency_up{dependency=\"cache\"} 0"), std::string::npos)
      << *metrics;
  EXPECT_NE(metrics->find("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Check\","
                          "grpc_service=\"grpc.health.v1.Health\",grpc_type=\"unary\"}"),
            std::string::npos)
      << *metrics;

  runner.RequestShutdown();
  runner.Wait();
  EXPECT_TRUE(runner.shutting_down());
}

}  // namespace
}  // namespace legwise
