// Pushes per second from one PushSender against a local HTTP/2 endpoint (nghttpd, Debian's
// nghttp2-server: a C server that answers every POST at once), next to h2load's rate against the
// same endpoint in the same run (the most a client can get from that server on this machine), so
// the figure is a ratio and survives a noisy machine.
//
//   push_sender_bench [--pushes=100000] [--providers=apns,fcm,web_push] [--producers=2]
//
// APNs and FCM go over TLS (ALPN h2) as in production; Web Push over HTTP/2 cleartext on
// 127.0.0.1 (the insecure loopback mode), each payload encrypted (a fresh P-256 key per message)
// on the submitting thread. `--producers` threads submit (the reminder's feed consumers will).
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "services/common/logging.h"
#include "services/reminder/push/sender.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise::push {
namespace {

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

std::string PemP256() {
  FILE* p =
      popen("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null", "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

std::string PemRsa() {
  FILE* p = popen("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null", "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// h2load's requests per second for `n` POSTs to `url` (1 connection, 100 streams).
double H2load(const std::string& url, const std::string& body_file, int n) {
  std::string cmd = absl::StrCat("h2load -n ", n, " -c 1 -m 100 -d ", body_file, " ", url, " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, got);
  pclose(p);
  // "finished in 90.36ms, 221329.53 req/s, 5.70MB/s"
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

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Run {
  double rate = 0;
  double cpu_per_push_us = 0;  // this process's CPU time (every thread) per push
  int delivered = 0;
  int other = 0;
};

Run Drive(PushSender* sender, int pushes, int producers,
          const std::function<DeviceTarget(int)>& target_of) {
  absl::Mutex mu;
  int done = 0, delivered = 0;
  absl::Time start = absl::Now();
  double cpu_start = CpuSeconds();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = p; i < pushes; i += producers) {
        PushMessage m;
        m.nudge_id = absl::StrCat("bench-", i);
        m.kind = "NUDGE_KIND_HYDRATION";
        m.title = "Time for a glass of water";
        m.body = "A glass now keeps cramps away tonight.";
        m.due_time = start;
        m.local_time = "2027-01-15T08:30:00+01:00";
        m.locale = "en";
        m.expire_time = start + absl::Hours(1);
        while (true) {
          absl::Status s = sender->Submit({"d", target_of(i), m}, [&](const PushResult& r) {
            absl::MutexLock lock(&mu);
            ++done;
            if (r.outcome == Outcome::kDelivered) ++delivered;
          });
          if (s.ok()) break;
          if (s.code() != absl::StatusCode::kResourceExhausted) {
            fprintf(stderr, "submit: %s\n", s.ToString().c_str());
            std::abort();
          }
          absl::SleepFor(absl::Microseconds(200));  // the sender is full: back off a little
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    absl::MutexLock lock(&mu);
    auto all = [&] { return done == pushes; };
    mu.Await(absl::Condition(&all));
  }
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return Run{pushes / seconds, (CpuSeconds() - cpu_start) * 1e6 / pushes, delivered,
             pushes - delivered};
}

int Main(int argc, char** argv) {
  SetMinLogLevel(LogLevel::kWarning);
  int pushes = 100000, producers = 2;
  absl::SimpleAtoi(Arg(argc, argv, "pushes", "100000"), &pushes);
  absl::SimpleAtoi(Arg(argc, argv, "producers", "2"), &producers);
  std::vector<std::string> providers =
      absl::StrSplit(Arg(argc, argv, "providers", "apns,fcm,web_push"), ',');

  std::string dir = legwise::testing::TempDir("push-bench-");
  auto certs = legwise::testing::MakeCertificates(dir);
  if (!certs.ok()) {
    fprintf(stderr, "%s\n", certs.status().ToString().c_str());
    return 1;
  }
  // The documents nghttpd answers with (empty, or the token grant's JSON).
  std::string docroot = dir + "/htdocs";
  std::string tokens_dir = docroot + "/3/device";
  std::system(
      absl::StrCat("mkdir -p ", tokens_dir, " ", docroot, "/v1/projects/bench ", docroot, "/push")
          .c_str());
  std::vector<std::string> tokens;
  for (int i = 0; i < kTokens; ++i) {
    tokens.push_back(absl::StrFormat("%064x", i + 1));
    WriteFile(tokens_dir, tokens.back(), "");
    WriteFile(docroot + "/push", absl::StrCat("s", i), "");
  }
  WriteFile(docroot + "/v1/projects/bench", "messages:send",
            R"({"name":"projects/bench/messages/1"})");
  WriteFile(docroot, "token",
            R"({"access_token":"ya29.bench","expires_in":3600,"token_type":"Bearer"})");
  std::string body_file = WriteFile(dir, "body.json", std::string(300, 'x'));

  int tls_port = FreePort(), clear_port = FreePort();
  Subprocess tls, clear;
  std::string log = dir + "/nghttpd.log";
  if (!tls.Start({"/usr/sbin/nghttpd", "-d", docroot, "-m", "1000", absl::StrCat(tls_port),
                  certs->at("server.key"), certs->at("server.pem")},
                 {}, log)
           .ok() ||
      !clear
           .Start({"/usr/sbin/nghttpd", "--no-tls", "-d", docroot, "-m", "1000",
                   absl::StrCat(clear_port)},
                  {}, log)
           .ok()) {
    fprintf(stderr, "cannot start nghttpd (apt-get install nghttp2-server)\n");
    return 1;
  }
  absl::SleepFor(absl::Milliseconds(500));

  SenderOptions o;
  o.ca_file = certs->at("ca.pem");
  absl::SimpleAtoi(Arg(argc, argv, "in_flight", "1000"), &o.max_in_flight);
  o.endpoint_policy.allow_insecure_loopback = true;
  absl::SimpleAtoi(Arg(argc, argv, "connections", "4"), &o.max_connections_per_host);
  absl::SimpleAtoi(Arg(argc, argv, "streams", "100"), &o.max_streams_per_connection);
  ApnsOptions apns{
      *LoadApnsCredentials(WriteFile(dir, "AuthKey.p8", PemP256()), "KEY1234567", "TEAM123456"),
      "com.legwise.app"};
  apns.endpoint = apns.sandbox_endpoint = absl::StrCat("https://127.0.0.1:", tls_port);
  o.apns = apns;
  std::string credentials = absl::StrCat(
      R"({"type":"service_account","project_id":"bench","private_key":")", JsonEscape(PemRsa()),
      R"(","client_email":"bench@bench.iam.gserviceaccount.com","token_uri":"https://127.0.0.1:)",
      tls_port, R"(/token"})");
  FcmOptions fcm{*ParseFcmCredentials(credentials)};
  fcm.endpoint = absl::StrCat("https://127.0.0.1:", tls_port);
  o.fcm = fcm;
  o.vapid =
      *LoadVapidCredentials(WriteFile(dir, "vapid.pem", PemP256()), "mailto:bench@legwise.example");
  absl::StatusOr<SigningKey> ua = SigningKey::GenerateP256();
  std::string p256dh = Base64UrlEncode(ua->PublicPoint());
  std::string auth = Base64UrlEncode("0123456789abcdef");

  printf(
      "| provider | pushes | sender pushes/s | h2load req/s (same endpoint) | ratio | sender CPU "
      "per push | not delivered |\n");
  printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  for (const std::string& provider : providers) {
    std::function<DeviceTarget(int)> target_of;
    std::string baseline_url;
    if (provider == "apns") {
      target_of = [&](int i) -> DeviceTarget { return ApnsTarget{tokens[i % kTokens], false}; };
      baseline_url = absl::StrCat("https://127.0.0.1:", tls_port, "/3/device/", tokens[0]);
    } else if (provider == "fcm") {
      target_of = [&](int i) -> DeviceTarget {
        return FcmTarget{absl::StrCat("bench-registration-token-", i % kTokens)};
      };
      baseline_url =
          absl::StrCat("https://127.0.0.1:", tls_port, "/v1/projects/bench/messages:send");
    } else {
      target_of = [&](int i) -> DeviceTarget {
        return WebPushTarget{absl::StrCat("http://127.0.0.1:", clear_port, "/push/s", i % kTokens),
                             p256dh, auth};
      };
      baseline_url = absl::StrCat("http://127.0.0.1:", clear_port, "/push/s0");
    }
    // A fresh sender per provider (connections and tokens made inside the measured run), warmed
    // with 1,000 pushes so the figure is the steady state.
    auto sender = PushSender::Create(o);
    if (!sender.ok()) {
      fprintf(stderr, "%s\n", sender.status().ToString().c_str());
      return 1;
    }
    Drive(sender->get(), 1000, producers, target_of);
    double before = H2load(baseline_url, body_file, pushes);
    Run run = Drive(sender->get(), pushes, producers, target_of);
    double after = H2load(baseline_url, body_file, pushes);
    double baseline = (before + after) / 2;
    printf("| %s | %d | %.0f | %.0f (%.0f, %.0f) | %.2f | %.1f us | %d |\n", provider.c_str(),
           pushes, run.rate, baseline, before, after, baseline > 0 ? run.rate / baseline : 0,
           run.cpu_per_push_us, run.other);
    fflush(stdout);
  }
  // Web Push's own cost, on one thread: RFC 8291 encryption (a fresh P-256 key pair, ECDH, HKDF,
  // AES-128-GCM) per message.
  std::string ua_point = ua->PublicPoint();
  std::string auth_bytes = "0123456789abcdef";
  std::string payload(220, 'x');
  constexpr int kEncryptions = 5000;
  double cpu_start = CpuSeconds();
  for (int i = 0; i < kEncryptions; ++i) {
    if (!EncryptWebPush(payload, ua_point, auth_bytes).ok()) std::abort();
  }
  double cpu = CpuSeconds() - cpu_start;
  printf("\nWeb Push encryption: %.1f us CPU per message (%.0f messages/s per core)\n",
         cpu * 1e6 / kEncryptions, kEncryptions / cpu);
  tls.Kill();
  clear.Kill();
  return 0;
}

}  // namespace
}  // namespace legwise::push

int main(int argc, char** argv) { return legwise::push::Main(argc, argv); }
