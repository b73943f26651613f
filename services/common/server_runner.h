// The one way every legwise service runs a gRPC server: callback services, grpc.health.v1 with an
// overall status and one per dependency, server reflection, Prometheus /metrics on its own port,
// JSON logs with request id and W3C trace id, keepalive and connection-age settings that suit
// Kubernetes, and graceful shutdown on SIGTERM/SIGINT: report NOT_SERVING, let in-flight calls
// finish, stop at a deadline. SIGHUP runs the reload hooks.
//
// Health service names:
//   ""                         readiness: every required dependency is up (and not shutting down)
//   "<full service name>"      the same, per registered service, e.g.
//   "legwise.triage.v1.TriageService" "liveness"                 the process is alive and its
//   server is running "dependency/<name>"        one dependency, e.g. "dependency/redis",
//   "dependency/content"
#ifndef LEGWISE_SERVICES_COMMON_SERVER_RUNNER_H_
#define LEGWISE_SERVICES_COMMON_SERVER_RUNNER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"
#include "grpcpp/server_context.h"
#include "services/common/config.h"
#include "services/common/grpc_metrics.h"
#include "services/common/metrics.h"
#include "services/common/security.h"

namespace legwise {

struct ServerOptions {
  // Short service name for logs and metrics, e.g. "triage".
  std::string service_name;
  // Interface to listen on; loopback by default (Kubernetes sets 0.0.0.0 through
  // LEGWISE_LISTEN_HOST).
  std::string listen_host = "127.0.0.1";
  // gRPC port.
  int port = 0;
  // Prometheus HTTP port; 0 disables it.
  int metrics_port = 0;
  // Plaintext port serving only grpc.health.v1 (the same statuses), for kubelet gRPC probes, which
  // cannot speak TLS; 0 disables it.
  int probe_port = 0;
  // How long in-flight calls may take to finish after SIGTERM before they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(20);
  // Pause between reporting NOT_SERVING and closing the listener, so load balancers notice first.
  absl::Duration drain_delay = absl::ZeroDuration();
  // How often dependency probes run.
  absl::Duration health_interval = absl::Seconds(2);
  // Largest request accepted.
  int max_receive_message_bytes = 64 * 1024;
  // Connections are closed after this age (plus grace) so clients re-resolve and rebalance across
  // pods.
  absl::Duration max_connection_age = absl::Minutes(5);
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // Idle connections are closed after this long.
  absl::Duration max_connection_idle = absl::Minutes(10);
  // Server keepalive pings.
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // Keepalive enforcement: a client pinging more often than this without calls in flight earns a
  // strike; after max_ping_strikes the connection is closed (GOAWAY ENHANCE_YOUR_CALM).
  absl::Duration min_client_ping_interval = absl::Seconds(10);
  int max_ping_strikes = 2;
  // Streams one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a
  // client that opens more loses the connection.
  int max_concurrent_streams = 100;
  // A connection must finish its TLS / HTTP/2 handshake within this, or it is closed.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // gRPC's memory quota (buffers, calls) in MiB. Near it, gRPC drops new connections and cancels
  // streams (RST_STREAM ENHANCE_YOUR_CALM) instead of growing: sized for a 512 MiB pod.
  int grpc_memory_mib = 192;
  // How often freed heap memory is handed back to the system (malloc_trim), so that what an
  // attack or a burst made us allocate does not stay resident after it (0 = never).
  absl::Duration memory_trim_interval = absl::Seconds(10);
  // Threads gRPC may run for synchronous handlers (server reflection).
  int grpc_max_threads = 32;
  // "debug" logs every RPC; "info" logs failed RPCs and lifecycle events.
  std::string log_level = "info";
  // TLS, mTLS, token verification and rate limits (see security.h).
  SecurityOptions security;
};

// Registers the flags every server has: --listen_host, --port, --metrics_port, --shutdown_grace,
// --drain_delay, --health_interval, --max_receive_message_bytes, --max_connection_age, the
// keepalive and resource limits (--max_concurrent_streams, --handshake_timeout,
// --grpc_memory_mib, ...), --log_level, and the security flags (AddSecurityFlags).
void AddServerFlags(FlagSet* flags, ServerOptions* options);

class ServerRunner {
 public:
  // Call first thing in main(). Routes SIGTERM, SIGINT and SIGHUP to the runner (a handler writes
  // them to a pipe its signal thread reads, whichever thread the kernel picks: gRPC starts threads
  // before main()), ignores SIGPIPE, and turns off Abseil's lock-order graph (Debian's Abseil is
  // a debug build that tracks every Mutex acquisition: a few percent of a server's CPU).
  static void PrepareProcess();

  explicit ServerRunner(ServerOptions options);
  ~ServerRunner();
  ServerRunner(const ServerRunner&) = delete;
  ServerRunner& operator=(const ServerRunner&) = delete;

  // Registers a (callback) service under its full proto name. `raw_methods` lists the methods
  // (short names, e.g. "GetGuidance") it serves as raw ByteBuffers: every other method's request
  // is taken to be its generated protobuf message, which the runner frees of unknown fields on
  // arrival and clears once the handler has answered (a service that reads its request after
  // Finish must not be registered here).
  void AddService(grpc::Service* service, std::string full_name,
                  std::vector<std::string> raw_methods = {});

  // Adds a dependency probed every health_interval. A failing required dependency makes the server
  // NOT_SERVING; an optional one only shows in its own "dependency/<name>" status and in metrics.
  void AddDependency(std::string name, std::function<absl::Status()> probe, bool required);

  // Called on SIGHUP.
  void OnReload(std::function<void()> hook);
  // Called after NOT_SERVING is reported and before the server stops: end streams, stop workers.
  void OnShutdown(std::function<void()> hook);

  // Builds and starts the server, the metrics endpoint, probes and the signal thread.
  absl::Status Start();
  // The bound gRPC port (after Start).
  int port() const { return port_; }
  // The bound metrics port (after Start), 0 when disabled.
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }

  // Blocks until SIGTERM/SIGINT or RequestShutdown(), then shuts down gracefully.
  void Wait();
  // Asks Wait() to shut down; safe from any thread, any number of times.
  void RequestShutdown();
  // Whether shutdown has begun (streaming handlers poll it to end their streams).
  bool shutting_down() const { return shutting_down_.load(); }

  // Start() + Wait(). Returns the Start error, if any.
  absl::Status Run();

 private:
  struct Dependency {
    std::string name;
    std::function<absl::Status()> probe;
    bool required;
    int up = -1;  // -1 = not probed yet, 0 = down, 1 = up
  };
  void ProbeOnce();
  void SignalLoop();

  ServerOptions options_;
  std::vector<std::pair<grpc::Service*, std::string>> services_;
  // Full paths ("/pkg.Service/Method") of the raw methods, which the interceptor leaves alone.
  absl::flat_hash_set<std::string> raw_methods_;
  absl::Mutex mu_;
  std::vector<Dependency> dependencies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> reload_hooks_;
  std::vector<std::function<void()>> shutdown_hooks_;

  // Sets a health status on the main server and on the probe server.
  void SetHealth(const std::string& service, bool serving);

  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> probe_server_;
  grpc::CallbackGenericService probe_generic_;
  // Admits server-reflection calls with the services' own credentials (null in development mode).
  std::unique_ptr<CallGuard> reflection_guard_;
  // Server reflection v1 and v1alpha (ours: see reflection.h).
  std::vector<std::unique_ptr<grpc::Service>> reflection_services_;
  std::unique_ptr<MetricsHttpServer> metrics_;
  // The served methods and their metric series (built once, in Start).
  std::unique_ptr<MethodTable> method_table_;
  int port_ = 0;
  std::atomic<bool> shutting_down_{false};
  absl::Notification shutdown_requested_;
  std::thread probe_thread_;
  std::thread signal_thread_;
  std::thread trim_thread_;
};

// What identifies one call in logs and downstream calls: never anything about the person.
struct CallIds {
  std::string request_id;  // from x-request-id, or generated
  std::string trace_id;    // 32 hex digits, from traceparent, or generated
  std::string span_id;     // 16 hex digits of the caller's span ("" when none came in)
  std::string trace_flags = "01";
};

// The ids of a call being served (as the server's interceptor derived them).
CallIds GetCallIds(const grpc::ServerContextBase* context);

// Parses a W3C traceparent header ("00-<trace>-<span>-<flags>"); false when malformed.
bool ParseTraceparent(absl::string_view header, CallIds* ids);

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_SERVER_RUNNER_H_
