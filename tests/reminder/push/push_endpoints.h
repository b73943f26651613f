// The loopback push services of push_endpoints.py (APNs, FCM, Web Push) as the push tests start
// them, and the requests each one recorded. Shared by push_sender_test and push_integration_test.
#ifndef LEGWISE_TESTS_REMINDER_PUSH_PUSH_ENDPOINTS_H_
#define LEGWISE_TESTS_REMINDER_PUSH_PUSH_ENDPOINTS_H_

#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/reminder/push/push_test_util.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise::push::testing {

// A loopback push service process and the requests it recorded.
struct Endpoint {
  std::unique_ptr<legwise::testing::Subprocess> process;
  int port = 0;
  std::string record;
  std::string subscriptions;
  std::string base() const { return absl::StrCat("https://127.0.0.1:", port); }

  // Every recorded request of `kind` ("" = all), in arrival order.
  std::vector<google::protobuf::Struct> Requests(const std::string& kind = "") const {
    std::vector<google::protobuf::Struct> out;
    std::ifstream in(record);
    std::string line;
    while (std::getline(in, line)) {
      google::protobuf::Struct s = Json(line);
      if (kind.empty() || Str(s, "kind") == kind) out.push_back(s);
    }
    return out;
  }
  std::vector<google::protobuf::Struct> For(const std::string& key) const {
    std::vector<google::protobuf::Struct> out;
    for (const google::protobuf::Struct& s : Requests()) {
      if (Str(s, "key") == key) out.push_back(s);
    }
    return out;
  }
};

// What the service found wrong with one recorded request (empty when it checked out).
inline std::vector<std::string> Problems(const google::protobuf::Struct& s) {
  std::vector<std::string> out;
  auto it = s.fields().find("problems");
  if (it == s.fields().end()) return {"<no problems list>"};
  for (const auto& v : it->second.list_value().values()) out.push_back(v.string_value());
  return out;
}

// Where and how the endpoints of one test start.
struct EndpointSetup {
  std::string script;                        // push_endpoints.py
  std::string dir;                           // record, ready, script and subscription files
  std::map<std::string, std::string> certs;  // legwise::testing::MakeCertificates
  int web_push_subscriptions = 4;            // browsers a Web Push endpoint makes
  std::string log_prefix;                    // under LogDir()
};

// Starts push_endpoints.py in `mode` on `port` with `script` (JSON) and waits until it listens.
inline Endpoint StartEndpoint(const EndpointSetup& setup, const std::string& mode,
                              const std::string& script, const std::vector<std::string>& extra,
                              int port) {
  Endpoint e;
  e.port = port;
  std::string name = absl::StrCat(mode, "-", e.port);
  e.record = absl::StrCat(setup.dir, "/", name, ".jsonl");
  std::string ready = absl::StrCat(setup.dir, "/", name, ".ready");
  std::vector<std::string> argv = {
      "/usr/bin/python3",
      setup.script,
      mode,
      "--port",
      absl::StrCat(e.port),
      "--record",
      e.record,
      "--ready",
      ready,
      "--script",
      legwise::testing::WriteFile(setup.dir, name + ".script", script)};
  if (mode == "webpush") {
    e.subscriptions = absl::StrCat(setup.dir, "/", name, ".subscriptions.json");
    argv.insert(argv.end(), {"--subscriptions", e.subscriptions, "--count",
                             absl::StrCat(setup.web_push_subscriptions)});
  } else {
    argv.insert(argv.end(),
                {"--cert", setup.certs.at("server.pem"), "--key", setup.certs.at("server.key")});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  e.process = std::make_unique<legwise::testing::Subprocess>();
  EXPECT_TRUE(
      e.process
          ->Start(argv, {},
                  absl::StrCat(legwise::testing::LogDir(), "/", setup.log_prefix, name, ".log"))
          .ok());
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (access(ready.c_str(), F_OK) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(access(ready.c_str(), F_OK), 0) << mode << " did not come up";
  return e;
}

}  // namespace legwise::push::testing

#endif  // LEGWISE_TESTS_REMINDER_PUSH_PUSH_ENDPOINTS_H_
