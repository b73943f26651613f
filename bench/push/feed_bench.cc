// legwise-push end to end: pushes per second one replica delivers from the delivery feed. A real
// redis-server, the real legwise-push executable (feed consumer + PushSender), and a local HTTP/2
// APNs stand-in (nghttpd over TLS, answering every POST at once); entries are appended to the
// outbox streams the way the reminder's publish script writes them, for users with one APNs
// device each. The rate is from the first XADD until every entry is acknowledged (pending and lag
// 0 in every stream), next to h2load's request rate against the same nghttpd in the same run.
//
//   push_feed_bench [--entries=50000] [--users=10000] [--feed_batch=500] [--in_flight=1000]
//                   [--loop_threads=1]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/logging.h"
#include "services/common/redis_client.h"
#include "services/reminder/devices/device_store.h"
#include "services/reminder/store/redis_store.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;
using legwise::testing::FreePort;
using legwise::testing::Subprocess;
using legwise::testing::WriteFile;

constexpr int kTokens = 64;

std::string Arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (absl::StartsWith(a, "--" + name + "=")) return a.substr(name.size() + 3);
  }
  return fallback;
}

int IntArg(int argc, char** argv, const std::string& name, int fallback) {
  int v = fallback;
  if (!absl::SimpleAtoi(Arg(argc, argv, name, ""), &v)) v = fallback;
  return v;
}

std::string Run(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// h2load's requests per second for `n` POSTs to `url` (1 connection, 100 streams).
double H2load(const std::string& url, const std::string& body_file, int n) {
  std::string out =
      Run(absl::StrCat("h2load -n ", n, " -c 1 -m 100 -d ", body_file, " ", url, " 2>&1"));
  size_t at = out.find("finished in ");
  if (at == std::string::npos || out.find(absl::StrCat(n, " succeeded")) == std::string::npos) {
    fprintf(stderr, "h2load failed:\n%s\n", out.c_str());
    return 0;
  }
  std::vector<std::string> parts = absl::StrSplit(out.substr(at), ", ");
  double rate = 0;
  absl::SimpleAtod(absl::StripSuffix(parts.size() > 1 ? parts[1] : "", " req/s"), &rate);
  return rate;
}

// The sum of a counter's samples whose labels contain `label` in a /metrics text.
double Counter(const std::string& metrics, const std::string& name, const std::string& label) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, name + "{") || !absl::StrContains(line, label)) continue;
    double v = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) sum += v;
  }
  return sum;
}

int64_t TotalCommands(RedisClient* redis) {
  absl::StatusOr<RedisReply> r = redis->Command({"INFO", "stats"});
  if (!r.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(r->str, "\r\n")) {
    if (absl::ConsumePrefix(&line, "total_commands_processed:")) {
      int64_t v = 0;
      absl::SimpleAtoi(line, &v);
      return v;
    }
  }
  return 0;
}

// Pending plus not yet read entries of the push group, over every outbox stream.
int64_t Backlog(RedisClient* redis, int buckets) {
  std::vector<std::vector<std::string>> cmds;
  for (int b = 0; b < buckets; ++b) {
    cmds.push_back({"XINFO", "GROUPS", RedisReminderStore::OutboxKey(b)});
  }
  absl::StatusOr<std::vector<RedisReply>> r = redis->Pipeline(cmds);
  if (!r.ok()) return -1;
  int64_t left = 0;
  for (const RedisReply& groups : *r) {
    for (const RedisReply& g : groups.elements) {
      bool push = false;
      int64_t pending = 0, lag = 0;
      for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
        const std::string& k = g.elements[i].str;
        if (k == "name") push = g.elements[i + 1].str == "push";
        if (k == "pending") pending = g.elements[i + 1].integer;
        if (k == "lag") lag = g.elements[i + 1].integer;
      }
      if (push) left += pending + lag;
    }
  }
  return left;
}

// Appends `n` entries (users round robin, streams by entry) and returns when all are acknowledged.
absl::Duration Feed(RedisClient* redis, int buckets, int users, int first, int n) {
  const absl::Time start = absl::Now();
  constexpr int kChunk = 1000;
  for (int at = first; at < first + n; at += kChunk) {
    std::vector<std::vector<std::string>> cmds;
    const absl::Time now = absl::Now();
    for (int i = at; i < std::min(first + n, at + kChunk); ++i) {
      v1::Nudge nudge;
      const std::string user = absl::StrCat("bench-user-", i % users);
      nudge.set_nudge_id(absl::StrCat("bench-", i));
      nudge.set_kind(v1::NUDGE_KIND_HYDRATION);
      nudge.set_title("Time for a glass of water");
      nudge.set_body("A glass now keeps cramps away tonight.");
      nudge.set_locale("en");
      nudge.set_local_time("2027-01-15T08:30:00+01:00");
      *nudge.mutable_due_time() =
          google::protobuf::util::TimeUtil::MillisecondsToTimestamp(absl::ToUnixMillis(now));
      const std::string ms = absl::StrCat(absl::ToUnixMillis(now));
      cmds.push_back({"XADD", RedisReminderStore::OutboxKey(i % buckets), "*", "nudge_id",
                      nudge.nudge_id(), "user", UserKey(user), "due_ms", ms, "pub_ms", ms, "nudge",
                      nudge.SerializeAsString()});
    }
    if (!redis->Pipeline(cmds).ok()) std::abort();
  }
  while (Backlog(redis, buckets) != 0) absl::SleepFor(absl::Milliseconds(5));
  return absl::Now() - start;
}

int Main(int argc, char** argv) {
  SetMinLogLevel(LogLevel::kWarning);
  const int entries = IntArg(argc, argv, "entries", 50000);
  const int users = IntArg(argc, argv, "users", 10000);
  const std::string dir = legwise::testing::TempDir("push-feed-bench-");
  auto certs = legwise::testing::MakeCertificates(dir);
  if (!certs.ok()) {
    fprintf(stderr, "%s\n", certs.status().ToString().c_str());
    return 1;
  }
  const std::string docroot = dir + "/htdocs";
  std::system(absl::StrCat("mkdir -p ", docroot, "/3/device").c_str());
  std::vector<std::string> tokens;
  for (int i = 0; i < kTokens; ++i) {
    tokens.push_back(absl::StrFormat("%064x", i + 1));
    WriteFile(docroot + "/3/device", tokens.back(), "");
  }
  const std::string body_file = WriteFile(dir, "body.json", std::string(300, 'x'));
  const int tls_port = FreePort();
  Subprocess nghttpd;
  if (!nghttpd
           .Start({"/usr/sbin/nghttpd", "-d", docroot, "-m", "1000", absl::StrCat(tls_port),
                   certs->at("server.key"), certs->at("server.pem")},
                  {}, dir + "/nghttpd.log")
           .ok()) {
    fprintf(stderr, "cannot start nghttpd (apt-get install nghttp2-server)\n");
    return 1;
  }
  legwise::testing::RedisServer redis_server;
  if (absl::Status s = redis_server.Start(); !s.ok()) {
    fprintf(stderr, "redis-server: %s\n", s.ToString().c_str());
    return 1;
  }
  RedisOptions ro;
  ro.address = redis_server.address();
  ro.command_timeout = absl::Seconds(5);
  auto redis = std::make_shared<RedisClient>(ro);
  RedisReminderStore store(redis);
  RedisDeviceStore devices(redis);
  if (!store.EnsureOutboxGroups().ok()) return 1;
  for (int u = 0; u < users; ++u) {
    v1::Device d;
    d.set_device_id(absl::StrCat("d", u));
    d.mutable_apns()->set_device_token(tokens[u % kTokens]);
    d.set_locale("en");
    *d.mutable_create_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
    if (!devices.Register(absl::StrCat("bench-user-", u), d, 10).ok()) return 1;
  }
  const std::string key =
      WriteFile(dir, "AuthKey.p8",
                Run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null"));
  const std::string endpoint = absl::StrCat("https://127.0.0.1:", tls_port);
  legwise::testing::ServiceProcess push(
      "legwise-push",
      {"--redis_addr=" + redis_server.address(), "--consumer_name=bench-0",
       "--apns_key_file=" + key, "--apns_key_id=KEY1234567", "--apns_team_id=TEAM123456",
       "--apns_topic=com.legwise.app", "--apns_endpoint=" + endpoint,
       "--apns_sandbox_endpoint=" + endpoint, "--push_ca_file=" + certs->at("ca.pem"),
       absl::StrCat("--due_buckets=", store.num_buckets()),
       "--feed_batch=" + Arg(argc, argv, "feed_batch", "500"),
       "--max_in_flight=" + Arg(argc, argv, "in_flight", "1000"),
       "--push_loop_threads=" + Arg(argc, argv, "loop_threads", "1"), "--replay_window=0s"});
  if (absl::Status s = push.Start(); !s.ok()) {
    fprintf(stderr, "legwise-push: %s (log %s)\n", s.ToString().c_str(), push.log_path().c_str());
    return 1;
  }
  auto delivered = [&] {
    return Counter(legwise::testing::HttpGet(push.metrics_port(), "/metrics").value_or(""),
                   "legwise_push_outcomes_total", "delivered");
  };
  Feed(redis.get(), store.num_buckets(), users, 0, 2000);  // warm-up: connections, token
  const std::string url = absl::StrCat(endpoint, "/3/device/", tokens[0]);
  const double before = H2load(url, body_file, entries);
  const double delivered_before = delivered();
  const int64_t commands_before = TotalCommands(redis.get());
  const absl::Duration took = Feed(redis.get(), store.num_buckets(), users, 2000, entries);
  const int64_t commands = TotalCommands(redis.get()) - commands_before;
  const double got = delivered() - delivered_before;
  const double after = H2load(url, body_file, entries);
  const double rate = entries / absl::ToDoubleSeconds(took);
  const double baseline = (before + after) / 2;
  printf(
      "| entries | delivered | pushes/s (feed to 2xx) | h2load req/s (same endpoint) | ratio | "
      "Redis commands per entry |\n| --- | --- | --- | --- | --- | --- |\n");
  printf("| %d | %.0f | %.0f | %.0f (%.0f, %.0f) | %.3f | %.2f |\n", entries, got, rate, baseline,
         before, after, baseline > 0 ? rate / baseline : 0,
         static_cast<double>(commands) / entries);
  nghttpd.Kill();
  return got == entries ? 0 : 1;
}

}  // namespace
}  // namespace legwise::reminder

int main(int argc, char** argv) { return legwise::reminder::Main(argc, argv); }
