// Operating the real executables from outside (issue 13): what an operator's tools see. After 50
// calls to methods a server does not serve, promtool accepts every scrape, the unknown methods
// share one series, and every log line is valid JSON in valid UTF-8; a scrape answers quickly with
// idle connections open, and HEAD works.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

#ifndef LEGWISE_SOURCE_DIR
#define LEGWISE_SOURCE_DIR "."
#endif

namespace legwise {
namespace {

using testing::RedisServer;
using testing::ServiceProcess;

int Shell(const std::string& cmd) {
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Tool(const std::string& name) {
  return absl::StrCat("/usr/bin/python3 ", LEGWISE_SOURCE_DIR, "/tests/outside_client/", name);
}

// Calls `count` different unknown methods on `address`; true when all were UNIMPLEMENTED.
bool CallUnknownMethods(const std::string& address, int count, int offset) {
  return Shell(absl::StrCat(Tool("unknown_methods.py"), " ", address, " ", count, " --offset ",
                            offset, " >/dev/null")) == 0;
}

// `promtool check metrics` on a scrape: 0 when it has nothing to say.
int Promtool(const std::string& scrape, std::string* output) {
  std::string in = absl::StrCat(::testing::TempDir(), "/scrape-", ::getpid(), ".txt");
  std::string out = in + ".out";
  std::ofstream(in) << scrape;
  int rc = Shell(absl::StrCat("/usr/bin/promtool check metrics < ", in, " > ", out, " 2>&1"));
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  *output = ss.str();
  return rc;
}

// The series (sample lines) of families whose name starts with `prefix`.
int CountSeries(const std::string& scrape, absl::string_view prefix) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(scrape, '\n')) {
    if (!line.empty() && line[0] != '#' && absl::StartsWith(line, prefix)) ++n;
  }
  return n;
}

// A TCP connection to 127.0.0.1:port that sends nothing.
int IdleConnection(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string RawHttp(int port, const std::string& request) {
  int fd = IdleConnection(port);
  if (fd < 0) return "";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// The same over [::1].
std::string RawHttp6(int port, const std::string& request) {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  addr.sin6_port = htons(static_cast<uint16_t>(port));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
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

class OperateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    ASSERT_TRUE(redis_->Start().ok());
    content_ = new ServiceProcess("legwise-content", {"--redis_addr=" + redis_->address()});
    ASSERT_TRUE(content_->Start().ok());
    triage_ = new ServiceProcess("legwise-triage", {"--content_addr=" + content_->address()});
    ASSERT_TRUE(triage_->Start().ok());
    reminder_ = new ServiceProcess("legwise-reminder", {"--redis_addr=" + redis_->address(),
                                                        "--content_addr=" + content_->address()});
    ASSERT_TRUE(reminder_->Start().ok());
  }
  static void TearDownTestSuite() {
    delete reminder_;
    delete triage_;
    delete content_;
    delete redis_;
  }
  static std::vector<ServiceProcess*> All() { return {content_, triage_, reminder_}; }

  static RedisServer* redis_;
  static ServiceProcess* content_;
  static ServiceProcess* triage_;
  static ServiceProcess* reminder_;
};
RedisServer* OperateTest::redis_ = nullptr;
ServiceProcess* OperateTest::content_ = nullptr;
ServiceProcess* OperateTest::triage_ = nullptr;
ServiceProcess* OperateTest::reminder_ = nullptr;

TEST_F(OperateTest, PromtoolAcceptsEveryScrapeAfterUnknownMethodsAndSeriesStayBounded) {
  for (ServiceProcess* p : All()) {
    SCOPED_TRACE(p->log_path());
    ASSERT_TRUE(CallUnknownMethods(p->address(), 50, 0));
    auto first = testing::HttpGet(p->metrics_port(), "/metrics");
    ASSERT_TRUE(first.ok()) << first.status();
    std::string lint;
    EXPECT_EQ(Promtool(*first, &lint), 0) << lint;
    EXPECT_NE(first->find("grpc_server_handled_total{grpc_code=\"Unimplemented\","
                          "grpc_method=\"unknown\",grpc_service=\"unknown\","
                          "grpc_type=\"unknown\"} 50"),
              std::string::npos)
        << *first;
    for (const char* name : {"process_resident_memory_bytes", "process_open_fds",
                             "process_cpu_seconds_total", "legwise_build_info{"}) {
      EXPECT_NE(first->find(name), std::string::npos) << name;
    }
    // 50 more, all different: not one more series.
    ASSERT_TRUE(CallUnknownMethods(p->address(), 50, 50));
    auto second = testing::HttpGet(p->metrics_port(), "/metrics");
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(Promtool(*second, &lint), 0) << lint;
    EXPECT_EQ(CountSeries(*second, "grpc_server_"), CountSeries(*first, "grpc_server_"));
    EXPECT_NE(second->find("grpc_method=\"unknown\",grpc_service=\"unknown\","
                           "grpc_type=\"unknown\"} 100"),
              std::string::npos);
    EXPECT_EQ(second->find("Service/Method"), std::string::npos);
    EXPECT_EQ(second->find("NoSuchMethod"), std::string::npos);
  }
}

TEST_F(OperateTest, LogLinesAreValidJsonInValidUtf8) {
  for (ServiceProcess* p : All()) ASSERT_TRUE(CallUnknownMethods(p->address(), 12, 100));
  for (ServiceProcess* p : All()) {
    // Python decodes the file as strict UTF-8 and parses each line as JSON.
    std::string check = absl::StrCat(
        "/usr/bin/python3 -c 'import json,sys\n"
        "n=0\n"
        "for line in open(sys.argv[1], encoding=\"utf-8\", errors=\"strict\"):\n"
        "  if line.startswith(\"{\"): json.loads(line); n+=1\n"
        "sys.exit(0 if n > 0 else 1)' ",
        p->log_path());
    EXPECT_EQ(Shell(check), 0) << p->log_path();
  }
}

TEST_F(OperateTest, ScrapeIsFastWithIdleConnectionsOpenAndHeadWorks) {
  for (ServiceProcess* p : All()) {
    std::vector<int> idle;
    for (int i = 0; i < 5; ++i) idle.push_back(IdleConnection(p->metrics_port()));
    for (int fd : idle) ASSERT_GE(fd, 0);
    absl::Duration slowest;
    for (int i = 0; i < 5; ++i) {
      absl::Time start = absl::Now();
      auto body = testing::HttpGet(p->metrics_port(), "/metrics");
      absl::Duration took = absl::Now() - start;
      ASSERT_TRUE(body.ok()) << body.status();
      slowest = std::max(slowest, took);
    }
    EXPECT_LT(slowest, absl::Milliseconds(100)) << p->log_path();
    std::string head = RawHttp(p->metrics_port(),
                               "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(head, "HTTP/1.1 200")) << head;
    EXPECT_EQ(head.find("grpc_server_"), std::string::npos) << "HEAD has no body";
    for (int fd : idle) ::close(fd);
  }
}

// grpcurl and `buf curl` ask for reflection v1 first; older tools v1alpha. Both list every served
// service, health included, and give each one's descriptor.
TEST_F(OperateTest, ReflectionV1AndV1AlphaListHealthAndTheService) {
  struct Row {
    ServiceProcess* p;
    const char* service;
  } rows[] = {{content_, "legwise.content.v1.ContentService"},
              {triage_, "legwise.triage.v1.TriageService"},
              {reminder_, "legwise.reminder.v1.ReminderService"}};
  for (const Row& row : rows) {
    for (const char* version : {"v1", "v1alpha"}) {
      EXPECT_EQ(Shell(absl::StrCat(Tool("reflect.py"), " ", row.p->address(), " ", version, " ",
                                   row.service, " grpc.health.v1.Health",
                                   " grpc.reflection.v1.ServerReflection >/dev/null")),
                0)
          << row.service << " " << version;
    }
  }
}

// IPv6: "::1" alone, and "::" (dual stack: IPv4 clients too), for gRPC and metrics.
TEST(Ipv6Test, HealthAndMetricsOverIpv6Loopback) {
  for (const char* host : {"::1", "::"}) {
    SCOPED_TRACE(host);
    ServiceProcess triage("legwise-triage",
                          {absl::StrCat("--listen_host=", host), "--content_addr=127.0.0.1:1",
                           // all interfaces without authentication: development only
                           std::string(host) == "::" ? "--insecure" : "--log_level=info"});
    ASSERT_TRUE(triage.Start().ok()) << triage.log_path();
    auto v6 = grpc::CreateChannel(absl::StrCat("[::1]:", triage.port()),
                                  grpc::InsecureChannelCredentials());
    EXPECT_TRUE(testing::WaitForHealth(v6.get(), "liveness", true, absl::Seconds(10)).ok());
    std::string scrape = RawHttp6(triage.metrics_port(),
                                  "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(scrape, "HTTP/1.1 200")) << scrape.substr(0, 200);
    EXPECT_NE(scrape.find("grpc_server_started_total"), std::string::npos);
    if (std::string(host) == "::") {
      auto v4 = grpc::CreateChannel(absl::StrCat("127.0.0.1:", triage.port()),
                                    grpc::InsecureChannelCredentials());
      EXPECT_TRUE(testing::WaitForHealth(v4.get(), "liveness", true, absl::Seconds(10)).ok());
      EXPECT_TRUE(testing::HttpGet(triage.metrics_port(), "/metrics").ok());
    }
    auto code = triage.Terminate();
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(*code, 0);
  }
}

// ---- rotation without restart ----

// What raw_call.py printed (a status code name and a newline).
std::string RawCall(const std::string& args) {
  std::string out;
  FILE* p = ::popen(absl::StrCat(Tool("raw_call.py"), " ", args).c_str(), "r");
  char buf[256];
  size_t n;
  while (p != nullptr && (n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (p != nullptr) ::pclose(p);
  return out;
}

// A directory laid out as Kubernetes mounts a ConfigMap or Secret: `name` -> ..data/name, and
// ..data -> ..<version>. Update() writes a new version elsewhere and swaps ..data by a rename.
class ProjectedDir {
 public:
  explicit ProjectedDir(std::string dir) : dir_(std::move(dir)) {}
  void Update(const std::map<std::string, std::string>& files) {
    namespace fs = std::filesystem;
    std::string version = absl::StrCat("..v", ++version_);
    fs::create_directory(fs::path(dir_) / version);
    for (const auto& [name, content] : files) {
      std::ofstream(fs::path(dir_) / version / name) << content;
      if (!fs::exists(fs::symlink_status(fs::path(dir_) / name))) {
        fs::create_symlink(fs::path("..data") / name, fs::path(dir_) / name);
      }
    }
    fs::path tmp = fs::path(dir_) / "..data_tmp";
    fs::remove(tmp);
    fs::create_directory_symlink(version, tmp);
    fs::rename(tmp, fs::path(dir_) / "..data");  // atomic, like the kubelet's swap
  }
  std::string path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

 private:
  std::string dir_;
  int version_ = 0;
};

constexpr char kIss[] = "https://auth.legwise.test";
constexpr char kAud[] = "legwise-api";

// ServerReflectionRequest{list_services: ""} on v1, with a bearer token.
std::string ReflectWithToken(const std::string& address, const std::string& token) {
  return RawCall(absl::StrCat(address,
                              " /grpc.reflection.v1.ServerReflection/ServerReflectionInfo 3a00"
                              " --bidi --authorization 'Bearer ",
                              token, "'"));
}

// Polls `done` every 200 ms for up to `limit`; returns how long it took, or limit + 1 s.
absl::Duration TimeUntil(const std::function<bool()>& done, absl::Duration limit) {
  absl::Time start = absl::Now();
  while (absl::Now() - start < limit) {
    if (done()) return absl::Now() - start;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return limit + absl::Seconds(1);
}

TEST(RotationTest, JwksKeyAddedBySymlinkSwapIsAcceptedWithoutASignal) {
  ProjectedDir jwks(testing::TempDir("legwise-jwks-rotation-"));
  auto old_key = testing::SigningKey::Ec("old");
  auto new_key = testing::SigningKey::Ec("new");
  jwks.Update({{"jwks.json", testing::Jwks({old_key.get()})}});
  ServiceProcess triage(
      "legwise-triage",
      {"--content_addr=127.0.0.1:1", "--jwks_file=" + jwks.path("jwks.json"),
       std::string("--jwt_issuer=") + kIss, std::string("--jwt_audience=") + kAud});
  ASSERT_TRUE(triage.Start().ok()) << triage.log_path();
  const std::string old_token = old_key->Sign(testing::Claims(kIss, kAud, "ana", absl::Hours(1)));
  const std::string new_token = new_key->Sign(testing::Claims(kIss, kAud, "ana", absl::Hours(1)));
  EXPECT_EQ(ReflectWithToken(triage.address(), old_token), "OK\n");
  EXPECT_EQ(ReflectWithToken(triage.address(), new_token), "UNAUTHENTICATED\n");

  jwks.Update({{"jwks.json", testing::Jwks({old_key.get(), new_key.get()})}});
  absl::Duration took = TimeUntil(
      [&] { return ReflectWithToken(triage.address(), new_token) == "OK\n"; }, absl::Seconds(10));
  EXPECT_LE(took, absl::Seconds(10)) << triage.log_path();
  std::cerr << "new JWKS key accepted after " << took << "\n";
  EXPECT_EQ(ReflectWithToken(triage.address(), old_token), "OK\n");

  // A broken file keeps the keys in force.
  jwks.Update({{"jwks.json", "{not json"}});
  absl::SleepFor(absl::Seconds(3));
  EXPECT_EQ(ReflectWithToken(triage.address(), new_token), "OK\n");
}

TEST(RotationTest, SighupReloadsTheJwksAtOnce) {
  ProjectedDir jwks(testing::TempDir("legwise-jwks-sighup-"));
  auto old_key = testing::SigningKey::Ec("old");
  auto new_key = testing::SigningKey::Ec("new");
  jwks.Update({{"jwks.json", testing::Jwks({old_key.get()})}});
  ServiceProcess triage("legwise-triage",
                        {"--content_addr=127.0.0.1:1", "--jwks_file=" + jwks.path("jwks.json"),
                         "--jwks_refresh_interval=1h", std::string("--jwt_issuer=") + kIss,
                         std::string("--jwt_audience=") + kAud});
  ASSERT_TRUE(triage.Start().ok()) << triage.log_path();
  const std::string new_token = new_key->Sign(testing::Claims(kIss, kAud, "ana", absl::Hours(1)));
  jwks.Update({{"jwks.json", testing::Jwks({new_key.get()})}});
  EXPECT_EQ(ReflectWithToken(triage.address(), new_token), "UNAUTHENTICATED\n")
      << "not polled for an hour";
  triage.process().Signal(SIGHUP);
  EXPECT_LE(TimeUntil([&] { return ReflectWithToken(triage.address(), new_token) == "OK\n"; },
                      absl::Seconds(5)),
            absl::Seconds(5));
}

// The SHA-256 fingerprint of the certificate a TLS server presents on a new handshake.
std::string PresentedFingerprint(int port) {
  std::string out;
  std::string cmd =
      absl::StrCat("openssl s_client -connect 127.0.0.1:", port,
                   " -servername localhost -alpn h2 </dev/null 2>/dev/null | openssl x509 -noout "
                   "-fingerprint -sha256 2>/dev/null");
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[256];
  size_t n;
  while (p != nullptr && (n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (p != nullptr) ::pclose(p);
  return out;
}

std::string FileFingerprint(const std::string& pem) {
  std::string out;
  FILE* p =
      ::popen(absl::StrCat("openssl x509 -noout -fingerprint -sha256 -in ", pem).c_str(), "r");
  char buf[256];
  size_t n;
  while (p != nullptr && (n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (p != nullptr) ::pclose(p);
  return out;
}

TEST(RotationTest, RenewedCertificateIsServedToNewHandshakesWhileOldChannelsKeepWorking) {
  std::string dir = testing::TempDir("legwise-tls-rotation-");
  auto certs = testing::MakeCertificates(dir);
  ASSERT_TRUE(certs.ok()) << certs.status();
  // A renewed certificate for the same names from the same CA, with a new key.
  ASSERT_EQ(Shell(absl::StrCat(
                "cd ", dir,
                " && openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout renewed.key"
                " -out renewed.csr 2>/dev/null && openssl x509 -req -in renewed.csr -CA ca.pem"
                " -CAkey ca.key -CAcreateserial -days 3 -extfile san.ext -out renewed.pem"
                " 2>/dev/null")),
            0);
  ProjectedDir tls(dir + "/mounted");
  std::filesystem::create_directory(dir + "/mounted");
  tls.Update({{"tls.crt", testing::ReadFileOrDie((*certs)["server.pem"])},
              {"tls.key", testing::ReadFileOrDie((*certs)["server.key"])}});
  ServiceProcess triage("legwise-triage",
                        {"--content_addr=127.0.0.1:1", "--tls_cert_file=" + tls.path("tls.crt"),
                         "--tls_key_file=" + tls.path("tls.key"), "--tls_refresh_interval=1s",
                         absl::StrCat("--probe_port=", testing::FreePort())});
  ASSERT_TRUE(triage.Start().ok()) << triage.log_path();
  EXPECT_EQ(PresentedFingerprint(triage.port()), FileFingerprint((*certs)["server.pem"]));

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = testing::ReadFileOrDie((*certs)["ca.pem"]);
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto old_channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", triage.port()),
                                               grpc::SslCredentials(ssl), args);
  ASSERT_TRUE(testing::WaitForHealth(old_channel.get(), "liveness", true, absl::Seconds(10)).ok());

  tls.Update({{"tls.crt", testing::ReadFileOrDie(dir + "/renewed.pem")},
              {"tls.key", testing::ReadFileOrDie(dir + "/renewed.key")}});
  const std::string renewed = FileFingerprint(dir + "/renewed.pem");
  ASSERT_FALSE(renewed.empty());
  absl::Duration took =
      TimeUntil([&] { return PresentedFingerprint(triage.port()) == renewed; }, absl::Seconds(10));
  EXPECT_LE(took, absl::Seconds(10)) << triage.log_path();
  std::cerr << "renewed certificate served after " << took << "\n";
  // The channel opened before the renewal still works (its connection was not dropped).
  EXPECT_EQ(old_channel->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(testing::CheckHealth(old_channel.get(), "liveness").ok());
  EXPECT_EQ(*testing::CheckHealth(old_channel.get(), "liveness"), 1);
}

}  // namespace
}  // namespace legwise
