// Starts the real content, triage, reminder (in-memory) and gateway processes and runs
// cors_browser.cjs: headless chromium calls the gateway from an allowed and a refused origin.
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace legwise {
namespace {

using testing::ServiceProcess;

TEST(Browser, AllowedOriginCallsAndStreamsOthersAreRefused) {
  const std::string node_path = std::string(LEGWISE_SOURCE_DIR) + "/.cache/playwright/node_modules";
  if (std::system("test -x /usr/bin/chromium") != 0 ||
      std::system(("test -d " + node_path + "/playwright-core").c_str()) != 0) {
    GTEST_SKIP() << "needs Debian's chromium and playwright-core (tests/browser/README.md)";
  }
  ServiceProcess content("legwise-content", {"--redis_addr=127.0.0.1:1"});
  ASSERT_TRUE(content.Start().ok()) << content.log_path();
  ServiceProcess triage("legwise-triage", {"--content_addr=" + content.address()});
  ASSERT_TRUE(triage.Start().ok()) << triage.log_path();
  ServiceProcess reminder("legwise-reminder",
                          {"--memory_store", "--content_addr=" + content.address()});
  ASSERT_TRUE(reminder.Start().ok()) << reminder.log_path();
  const int allowed = testing::FreePort(), other = testing::FreePort();
  ServiceProcess gateway(
      "legwise-gateway",
      {"--triage_addr=" + triage.address(), "--content_addr=" + content.address(),
       "--reminder_addr=" + reminder.address(), absl::StrCat("--probe_port=", testing::FreePort()),
       absl::StrCat("--cors_allowed_origins=http://127.0.0.1:", allowed)});
  ASSERT_TRUE(gateway.Start().ok()) << gateway.log_path();
  std::string cmd = absl::StrCat("NODE_PATH=", node_path, " node ", LEGWISE_SOURCE_DIR,
                                 "/tests/browser/cors_browser.cjs ", gateway.port(), " ", allowed,
                                 " ", other, " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  int rc = pclose(p);
  EXPECT_EQ(rc, 0) << out;
  std::cout << out;
}

}  // namespace
}  // namespace legwise
