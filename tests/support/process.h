// Integration-test support: real processes on free loopback ports. Starts redis-server (in a fresh
// temporary directory, AOF on) and the legwise executables, waits for them to come up, and stops,
// kills or restarts them mid-test. Each process's stderr goes to a file under LEGWISE_TEST_LOG_DIR
// (default /tmp/legwise-test-logs) so that log-scanning tests can read every line the suite
// produced.
#ifndef LEGWISE_TESTS_SUPPORT_PROCESS_H_
#define LEGWISE_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace legwise::testing {

// A TCP port that was free on every address, IPv4 and IPv6, a moment ago (the kernel picked it; it
// is never reused by this helper within one process).
int FreePort();

// The directory holding the built executables (build/<preset>/bin).
std::string BinDir();

// The directory the processes' logs go to (created if missing).
std::string LogDir();

// One child process. The destructor kills it (SIGKILL) if it still runs.
class Subprocess {
 public:
  Subprocess() = default;
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Starts argv[0] (a path) with argv and extra "NAME=value" environment entries; stdout and stderr
  // are appended to `log_path`.
  absl::Status Start(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                     const std::string& log_path);
  // Sends a signal.
  void Signal(int sig);
  // Waits for the process to exit, up to `timeout`; returns its exit status (as from waitpid) or
  // DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // SIGKILL and reap.
  void Kill();
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// A real redis-server on a free loopback port with its own data directory.
class RedisServer {
 public:
  // `extra_args` are appended to redis-server's command line (e.g. {"--replicaof", ...}).
  explicit RedisServer(std::vector<std::string> extra_args = {});
  ~RedisServer();
  // Starts it (again, after Stop/Kill, on the same port and data directory) and waits until it
  // answers PING.
  absl::Status Start();
  // Starts it without waiting for it to answer (e.g. to catch it while it loads its data).
  absl::Status Launch();
  // The extra arguments used from the next Start/Launch on.
  void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
  // SHUTDOWN-like graceful stop (SIGTERM; Redis writes its AOF).
  void Stop();
  // SIGKILL: a crash.
  void Kill();
  int port() const { return port_; }
  std::string address() const;

 private:
  int port_;
  std::string dir_;
  std::vector<std::string> extra_args_;
  Subprocess process_;
};

// A legwise executable (legwise-triage, legwise-content, legwise-reminder) on a free port.
class ServiceProcess {
 public:
  // `name` is the executable name; `args` are extra flags. --port and --metrics_port are chosen
  // here.
  ServiceProcess(std::string name, std::vector<std::string> args);
  ~ServiceProcess();
  // Starts it and waits (up to `timeout`) until its health service answers "liveness" SERVING (on
  // the plaintext --probe_port when one is among the args, as for a TLS server).
  absl::Status Start(absl::Duration timeout = absl::Seconds(20));
  // SIGTERM and wait for a clean exit; returns the exit status.
  absl::StatusOr<int> Terminate(absl::Duration timeout = absl::Seconds(30));
  void Kill();
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const;
  // "127.0.0.1", or "[::1]" when the args say --listen_host=::1.
  std::string host() const;
  std::string log_path() const { return log_path_; }
  // A plaintext channel to the gRPC port.
  std::shared_ptr<grpc::Channel> channel();
  Subprocess& process() { return process_; }

 private:
  std::string name_;
  std::vector<std::string> args_;
  int port_;
  int metrics_port_;
  std::string log_path_;
  Subprocess process_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Asks `service` ("" = whole server) over grpc.health.v1 until it reports `want_serving` or
// `timeout` passes.
absl::Status WaitForHealth(grpc::Channel* channel, const std::string& service, bool want_serving,
                           absl::Duration timeout);

// One Health/Check; returns the status enum value (1 = SERVING, 2 = NOT_SERVING) or an error.
absl::StatusOr<int> CheckHealth(grpc::Channel* channel, const std::string& service);

// GET http://127.0.0.1:port/path; returns the body.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

}  // namespace legwise::testing

#endif  // LEGWISE_TESTS_SUPPORT_PROCESS_H_
