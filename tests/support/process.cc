#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"

#ifndef LEGWISE_BIN_DIR
#define LEGWISE_BIN_DIR "."
#endif

namespace legwise::testing {
namespace {

std::string MakeTempDir(const std::string& prefix) {
  std::string templ = absl::StrCat("/tmp/", prefix, "XXXXXX");
  char* dir = ::mkdtemp(templ.data());
  return dir == nullptr ? "/tmp" : std::string(dir);
}

std::string FindRedisServer() {
  for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "redis-server";
}

}  // namespace

int FreePort() {
  static absl::Mutex mu;
  static std::set<int>* used = new std::set<int>();
  absl::MutexLock lock(&mu);
  for (int attempt = 0; attempt < 100; ++attempt) {
    // Bound on [::] dual stack: free on every IPv4 and IPv6 address, so a server may listen on
    // 127.0.0.1, ::1 or :: with it.
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    int off = 0;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    int port = ntohs(addr.sin6_port);
    if (port != 0 && used->insert(port).second) return port;
  }
  return 0;
}

std::string BinDir() {
  if (const char* dir = std::getenv("LEGWISE_BIN_DIR")) return dir;
  return LEGWISE_BIN_DIR;
}

std::string LogDir() {
  std::string dir = "/tmp/legwise-test-logs";
  if (const char* d = std::getenv("LEGWISE_TEST_LOG_DIR")) dir = d;
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

Subprocess::~Subprocess() { Kill(); }

absl::Status Subprocess::Start(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env, const std::string& log_path) {
  if (running()) return absl::FailedPreconditionError("already running");
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    return absl::InternalError(absl::StrCat("open ", log_path, ": ", strerror(errno)));
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    // The child: a clean signal state (the test may block signals), logs to the file.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    ::execv(args[0], args.data());
    std::string msg = absl::StrCat("exec ", argv[0], " failed: ", strerror(errno), "\n");
    ::write(STDERR_FILENO, msg.data(), msg.size());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
  return absl::OkStatus();
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    if (r < 0) {
      pid_ = -1;
      return absl::InternalError("waitpid failed");
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("process did not exit in time");
    absl::SleepFor(absl::Milliseconds(20));
  }
}

void Subprocess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool Subprocess::running() {
  if (pid_ <= 0) return false;
  int status;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

RedisServer::RedisServer(std::vector<std::string> extra_args)
    : port_(FreePort()), dir_(MakeTempDir("legwise-redis-")), extra_args_(std::move(extra_args)) {}

RedisServer::~RedisServer() { process_.Kill(); }

std::string RedisServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::Status RedisServer::Launch() {
  std::vector<std::string> argv = {FindRedisServer(),
                                   "--port",
                                   absl::StrCat(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--appendonly",
                                   "yes",
                                   "--appendfsync",
                                   "everysec",
                                   "--save",
                                   "",
                                   "--daemonize",
                                   "no",
                                   "--protected-mode",
                                   "yes"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  return process_.Start(argv, {}, absl::StrCat(LogDir(), "/redis-", port_, ".log"));
}

absl::Status RedisServer::Start() {
  if (absl::Status s = Launch(); !s.ok()) return s;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      const char ping[] = "PING\r\n";
      ::send(fd, ping, sizeof(ping) - 1, MSG_NOSIGNAL);
      char buf[64] = {0};
      timeval tv{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      ssize_t n = ::recv(fd, buf, sizeof(buf) - 1, 0);
      ok = n > 0 && std::string(buf, static_cast<size_t>(n)).find("PONG") != std::string::npos;
    }
    ::close(fd);
    if (ok) return absl::OkStatus();
    if (!process_.running()) return absl::InternalError("redis-server exited at start-up");
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("redis-server did not answer PING in time");
}

void RedisServer::Stop() {
  process_.Signal(SIGTERM);
  if (!process_.Wait(absl::Seconds(10)).ok()) process_.Kill();
}

void RedisServer::Kill() { process_.Kill(); }

ServiceProcess::ServiceProcess(std::string name, std::vector<std::string> args)
    : name_(std::move(name)), args_(std::move(args)), port_(FreePort()), metrics_port_(FreePort()) {
  log_path_ = absl::StrCat(LogDir(), "/", name_, "-", port_, ".log");
}

ServiceProcess::~ServiceProcess() { process_.Kill(); }

std::string ServiceProcess::host() const {
  // A server told to listen on IPv6 loopback only is reached there.
  for (const std::string& a : args_) {
    if (a == "--listen_host=::1" || a == "--listen_host=[::1]") return "[::1]";
  }
  return "127.0.0.1";
}

std::string ServiceProcess::address() const { return absl::StrCat(host(), ":", port_); }

std::shared_ptr<grpc::Channel> ServiceProcess::channel() {
  if (!channel_) {
    channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  }
  return channel_;
}

absl::Status ServiceProcess::Start(absl::Duration timeout) {
  std::vector<std::string> argv = {absl::StrCat(BinDir(), "/", name_),
                                   absl::StrCat("--port=", port_),
                                   absl::StrCat("--metrics_port=", metrics_port_)};
  argv.insert(argv.end(), args_.begin(), args_.end());
  if (absl::Status s = process_.Start(argv, {}, log_path_); !s.ok()) return s;
  // A TLS server is probed on its plaintext --probe_port, like kubelet does.
  std::shared_ptr<grpc::Channel> health = channel();
  for (const std::string& a : args_) {
    if (a.rfind("--probe_port=", 0) == 0) {
      health = grpc::CreateChannel(absl::StrCat(host(), ":", a.substr(13)),
                                   grpc::InsecureChannelCredentials());
    }
  }
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (!process_.running()) {
      return absl::InternalError(absl::StrCat(name_, " exited at start-up; see ", log_path_));
    }
    absl::StatusOr<int> st = CheckHealth(health.get(), "liveness");
    if (st.ok() && *st == 1) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat(name_, " did not come up; see ", log_path_));
}

absl::StatusOr<int> ServiceProcess::Terminate(absl::Duration timeout) {
  process_.Signal(SIGTERM);
  return process_.Wait(timeout);
}

void ServiceProcess::Kill() { process_.Kill(); }

absl::StatusOr<int> CheckHealth(grpc::Channel* channel, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(
      std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  return static_cast<int>(response.status());
}

absl::Status WaitForHealth(grpc::Channel* channel, const std::string& service, bool want_serving,
                           absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Status last = absl::DeadlineExceededError("no answer");
  while (absl::Now() < deadline) {
    absl::StatusOr<int> st = CheckHealth(channel, service);
    if (st.ok() && (*st == 1) == want_serving) return absl::OkStatus();
    last = st.ok() ? absl::FailedPreconditionError(absl::StrCat("status ", *st)) : st.status();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("health '", service, "' never became ",
                                                  want_serving ? "SERVING" : "NOT_SERVING", ": ",
                                                  last.message()));
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return absl::UnavailableError("connect failed");
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string req =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return absl::InternalError("malformed HTTP response");
  if (response.rfind("HTTP/1.1 200", 0) != 0) {
    return absl::NotFoundError(response.substr(0, response.find("\r\n")));
  }
  return response.substr(body + 4);
}

}  // namespace legwise::testing
