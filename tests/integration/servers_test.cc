// The three executables as real processes with a real redis-server: health, reflection (checked by
// an outside Python grpcio client), /metrics, readiness following Redis, flags errors, and graceful
// shutdown with a call in flight.
#include <sys/wait.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

#ifndef LEGWISE_SOURCE_DIR
#define LEGWISE_SOURCE_DIR "."
#endif

namespace legwise {
namespace {

using testing::RedisServer;
using testing::ServiceProcess;

constexpr absl::Duration kWait = absl::Seconds(15);

int RunOutsideClient(const std::string& address, const std::string& service, int sigterm_pid = 0) {
  std::string cmd = absl::StrCat("/usr/bin/python3 ", LEGWISE_SOURCE_DIR,
                                 "/tests/outside_client/check_server.py ", address, " ", service);
  if (sigterm_pid > 0) absl::StrAppend(&cmd, " --sigterm-pid ", sigterm_pid);
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ServersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    ASSERT_TRUE(redis_->Start().ok());
  }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
  }
  static RedisServer* redis_;
};
RedisServer* ServersTest::redis_ = nullptr;

struct Case {
  const char* binary;
  const char* service;
};

TEST_F(ServersTest, EachServerIsHealthyReflectsItsServiceAndServesMetrics) {
  ServiceProcess content("legwise-content", {"--redis_addr=" + redis_->address()});
  ASSERT_TRUE(content.Start().ok());
  ServiceProcess triage("legwise-triage", {"--content_addr=" + content.address()});
  ASSERT_TRUE(triage.Start().ok());
  ServiceProcess reminder("legwise-reminder", {"--redis_addr=" + redis_->address(),
                                               "--content_addr=" + content.address()});
  ASSERT_TRUE(reminder.Start().ok());

  struct Row {
    ServiceProcess* process;
    const char* service;
    std::vector<const char*> dependencies;
  } rows[] = {{&content, "legwise.content.v1.ContentService", {"redis"}},
              {&triage, "legwise.triage.v1.TriageService", {"content"}},
              {&reminder, "legwise.reminder.v1.ReminderService", {"redis", "content"}}};
  for (const Row& row : rows) {
    SCOPED_TRACE(row.service);
    ASSERT_TRUE(testing::WaitForHealth(row.process->channel().get(), "", true, kWait).ok());
    for (const char* dep : row.dependencies) {
      EXPECT_TRUE(testing::WaitForHealth(row.process->channel().get(),
                                         absl::StrCat("dependency/", dep), true, kWait)
                      .ok())
          << dep;
    }
    EXPECT_EQ(RunOutsideClient(row.process->address(), row.service), 0);
    auto metrics = testing::HttpGet(row.process->metrics_port(), "/metrics");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    EXPECT_NE(
        metrics->find("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Check\","
                      "grpc_service=\"grpc.health.v1.Health\",grpc_type=\"unary\"}"),
        std::string::npos)
        << *metrics;
    EXPECT_NE(metrics->find("grpc_server_handling_seconds_bucket"), std::string::npos);
    EXPECT_NE(metrics->find("legwise_dependency_up{dependency=\"" +
                            std::string(row.dependencies[0]) + "\"} 1"),
              std::string::npos)
        << *metrics;
  }
}

TEST_F(ServersTest, ReadinessFollowsRedisAndRecoversByItself) {
  ServiceProcess content("legwise-content",
                         {"--redis_addr=" + redis_->address(), "--health_interval=100ms"});
  ASSERT_TRUE(content.Start().ok());
  ServiceProcess reminder("legwise-reminder",
                          {"--redis_addr=" + redis_->address(),
                           "--content_addr=" + content.address(), "--health_interval=100ms"});
  ASSERT_TRUE(reminder.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(reminder.channel().get(), "", true, kWait).ok());

  redis_->Kill();
  // The reminder store is Redis: not ready without it. Content is only cached in Redis: still
  // ready, but says the cache is down.
  EXPECT_TRUE(testing::WaitForHealth(reminder.channel().get(), "", false, kWait).ok());
  EXPECT_TRUE(
      testing::WaitForHealth(content.channel().get(), "dependency/redis", false, kWait).ok());
  EXPECT_TRUE(testing::WaitForHealth(content.channel().get(), "", true, kWait).ok());
  auto metrics = testing::HttpGet(content.metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->find("legwise_dependency_up{dependency=\"redis\"} 0"), std::string::npos);

  ASSERT_TRUE(redis_->Start().ok());
  EXPECT_TRUE(testing::WaitForHealth(reminder.channel().get(), "", true, kWait).ok());
  EXPECT_TRUE(
      testing::WaitForHealth(content.channel().get(), "dependency/redis", true, kWait).ok());
}

TEST_F(ServersTest, InFlightCallCompletesAfterSigterm) {
  for (const Case& c : {Case{"legwise-triage", "legwise.triage.v1.TriageService"},
                        Case{"legwise-content", "legwise.content.v1.ContentService"},
                        Case{"legwise-reminder", "legwise.reminder.v1.ReminderService"}}) {
    SCOPED_TRACE(c.binary);
    std::vector<std::string> args = {"--shutdown_grace=10s"};
    if (std::string(c.binary) != "legwise-triage")
      args.push_back("--redis_addr=" + redis_->address());
    if (std::string(c.binary) != "legwise-content") args.push_back("--content_addr=127.0.0.1:1");
    ServiceProcess svc(c.binary, args);
    ASSERT_TRUE(svc.Start().ok()) << svc.log_path();
    ASSERT_TRUE(testing::WaitForHealth(svc.channel().get(), "", true, kWait).ok());
    EXPECT_EQ(RunOutsideClient(svc.address(), c.service, svc.process().pid()), 0);
    auto exit_status = svc.process().Wait(absl::Seconds(20));
    ASSERT_TRUE(exit_status.ok()) << "the server must exit after draining";
    EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0)
        << "graceful exit code 0, got " << *exit_status;
  }
}

TEST_F(ServersTest, BadFlagsAreRejectedNamingTheFlag) {
  for (const char* binary : {"legwise-triage", "legwise-content", "legwise-reminder"}) {
    SCOPED_TRACE(binary);
    ServiceProcess svc(binary, {"--no_such_flag=1"});
    EXPECT_FALSE(svc.Start(absl::Seconds(5)).ok());
    auto status = svc.process().Wait(absl::Seconds(5));
    if (status.ok()) EXPECT_EQ(WEXITSTATUS(*status), 2);
  }
}

}  // namespace
}  // namespace legwise
