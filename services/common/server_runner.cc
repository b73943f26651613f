#include "services/common/server_runner.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/support/server_interceptor.h"
#include "services/common/grpc_metrics.h"
#include "services/common/logging.h"
#include "services/common/reflection.h"
#include "services/common/validation.h"

namespace legwise {
namespace {

// ---- call ids shared between the interceptor and handlers ----

absl::Mutex g_ids_mu;
absl::flat_hash_map<const grpc::ServerContextBase*, CallIds>* g_ids ABSL_GUARDED_BY(g_ids_mu) =
    new absl::flat_hash_map<const grpc::ServerContextBase*, CallIds>();

std::string RandomHex(int digits) {
  thread_local absl::BitGen gen;
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < digits; ++i) out += kHex[absl::Uniform(gen, 0, 16)];
  return out;
}

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return false;
  }
  return true;
}

// A request id is echoed in logs, so only a safe, bounded alphabet is accepted.
bool IsSafeRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':') return false;
  }
  return true;
}

CallIds DeriveIds(const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
  CallIds ids;
  if (auto it = md.find("x-request-id"); it != md.end()) {
    absl::string_view v(it->second.data(), it->second.size());
    if (IsSafeRequestId(v)) ids.request_id = std::string(v);
  }
  if (auto it = md.find("traceparent"); it != md.end()) {
    ParseTraceparent(absl::string_view(it->second.data(), it->second.size()), &ids);
  }
  if (ids.trace_id.empty()) ids.trace_id = RandomHex(32);
  if (ids.request_id.empty()) ids.request_id = RandomHex(16);
  return ids;
}

bool IsQuietMethod(absl::string_view method) {
  return absl::StartsWith(method, "/grpc.health.v1.Health/") ||
         absl::StartsWith(method, "/grpc.reflection.");
}

// Failed calls are logged as a sample: a hostile caller can make any number of them.
constexpr int kFailedCallLinesPerSecond = 10;
LogSampler& FailedCallSampler() {
  static LogSampler* sampler = new LogSampler(kFailedCallLinesPerSecond);
  return *sampler;
}

// Counts, times and logs every call; derives its request and trace ids. Logs hold the method, the
// status code, the duration and the ids: never the request or the response. Also an answer gRPC
// itself gets wrong for us: a request message that does not parse is INVALID_ARGUMENT (gRPC
// answers UNIMPLEMENTED or INTERNAL). Metrics: grpc_metrics.h.
class ObservabilityInterceptor : public grpc::experimental::Interceptor {
 public:
  // Everything about the call that is kept is taken here, while gRPC's call object (and the
  // method name it owns) is alive: `info` is not read after the call is done. The method is
  // looked up among the served ones; anything else is "unknown" and its name is never kept.
  ObservabilityInterceptor(grpc::experimental::ServerRpcInfo* info,
                           const absl::flat_hash_set<std::string>* raw_methods,
                           const MethodTable* methods)
      : raw_methods_(raw_methods),
        stats_(methods->Find(info->method())),
        context_(info->server_context()),
        start_(absl::Now()) {
    stats_->started->Increment();
  }

  ~ObservabilityInterceptor() override {
    double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
    stats_->Handled(code_);
    stats_->seconds->Observe(seconds);
    const std::string& method = stats_->path;
    std::string code = CodeName(code_);
    bool failed = code_ != grpc::StatusCode::OK;
    LogLevel level =
        failed && code_ != grpc::StatusCode::CANCELLED ? LogLevel::kWarning : LogLevel::kDebug;
    // The fields are only built when the line will be written: this runs on every call.
    int64_t suppressed = 0;
    if ((!IsQuietMethod(method) || failed) && LogEnabled(level) &&
        (level != LogLevel::kWarning ||
         FailedCallSampler().Sample(code, absl::Now(), &suppressed))) {
      LogFields fields = {{"method", method},
                          {"code", code},
                          {"duration_ms", seconds * 1000},
                          {"request_id", ids_.request_id},
                          {"trace_id", ids_.trace_id}};
      if (suppressed > 0) fields.push_back({"suppressed_since_last", suppressed});
      Log(level, "rpc", fields);
    }
    if (std::optional<std::string> service = TakeServiceCaller(context_)) {
      // One line per service call, whatever its outcome: who called what, and how it ended.
      LogInfo("audit", {{"caller", *service},
                        {"method", method},
                        {"code", code},
                        {"request_id", ids_.request_id}});
    }
    absl::MutexLock lock(&g_ids_mu);
    g_ids->erase(context_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      ids_ = DeriveIds(*methods->GetRecvInitialMetadata());
      {
        absl::MutexLock lock(&g_ids_mu);
        (*g_ids)[context_] = ids_;
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      if (methods->GetRecvMessage() == nullptr) {
        malformed_ = true;  // gRPC could not deserialize the request
      } else if (stats_->known && absl::StartsWith(stats_->path, "/legwise.") &&
                 !raw_methods_->contains(stats_->path)) {
        // Our own (non-raw) methods' requests are generated protobuf messages. Unknown fields are
        // never read, so they are not kept: a caller cannot make a call hold up to a whole
        // message's worth of bytes we ignore.
        request_ = static_cast<google::protobuf::Message*>(methods->GetRecvMessage());
        request_->DiscardUnknownFields();
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      stats_->received->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      stats_->sent->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("x-request-id", ids_.request_id);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      // The handler has answered (Finish is the last thing every handler does), so its request is
      // no longer needed: free it now. A caller that never reads the answer (a zero HTTP/2 window)
      // keeps the call open, but then it holds only the small answer, not the request.
      if (request_ != nullptr) request_->Clear();
      grpc::Status status = methods->GetSendStatus();
      if (malformed_ && (status.error_code() == grpc::StatusCode::UNIMPLEMENTED ||
                         status.error_code() == grpc::StatusCode::INTERNAL)) {
        status = ToGrpcStatus(WithErrorInfo(
            absl::InvalidArgumentError("the request is not a valid message of the method's type"),
            "MALFORMED_REQUEST"));
        methods->ModifySendStatus(status);
      }
      code_ = status.error_code();
    }
    methods->Proceed();
  }

  static std::string CodeName(grpc::StatusCode code) {
    return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  }

 private:
  const absl::flat_hash_set<std::string>* raw_methods_;
  const MethodStats* stats_;
  const grpc::ServerContextBase* context_;
  absl::Time start_;
  CallIds ids_;
  bool malformed_ = false;
  google::protobuf::Message* request_ = nullptr;  // the call's request (our own methods only)
  // A call that ends without sending a status was cancelled (client gone or deadline).
  grpc::StatusCode code_ = grpc::StatusCode::CANCELLED;
};

class ObservabilityInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ObservabilityInterceptorFactory(const absl::flat_hash_set<std::string>* raw_methods,
                                  const MethodTable* methods)
      : raw_methods_(raw_methods), methods_(methods) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new ObservabilityInterceptor(info, raw_methods_, methods_);
  }

 private:
  const absl::flat_hash_set<std::string>* raw_methods_;
  const MethodTable* methods_;
};

int Ms(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

}  // namespace

bool ParseTraceparent(absl::string_view header, CallIds* ids) {
  // version(2)-trace(32)-span(16)-flags(2)
  if (header.size() != 55 || header[2] != '-' || header[35] != '-' || header[52] != '-')
    return false;
  absl::string_view version = header.substr(0, 2), trace = header.substr(3, 32),
                    span = header.substr(36, 16), flags = header.substr(53, 2);
  if (!IsHex(version) || version == "ff" || !IsHex(trace) || !IsHex(span) || !IsHex(flags)) {
    return false;
  }
  if (trace == std::string(32, '0') || span == std::string(16, '0')) return false;
  ids->trace_id = std::string(trace);
  ids->span_id = std::string(span);
  ids->trace_flags = std::string(flags);
  return true;
}

CallIds GetCallIds(const grpc::ServerContextBase* context) {
  {
    absl::MutexLock lock(&g_ids_mu);
    if (auto it = g_ids->find(context); it != g_ids->end()) return it->second;
  }
  return DeriveIds(context->client_metadata());
}

void AddServerFlags(FlagSet* flags, ServerOptions* o) {
  flags->AddString("listen_host", &o->listen_host,
                   "Interface to listen on (127.0.0.1 = loopback only; 0.0.0.0 = all).");
  flags->AddInt("port", &o->port, "gRPC port.", 0, 65535);
  flags->AddInt("metrics_port", &o->metrics_port, "Prometheus /metrics HTTP port (0 = off).", 0,
                65535);
  flags->AddInt("probe_port", &o->probe_port,
                "Plaintext port with only grpc.health.v1, for kubelet probes (0 = off).", 0, 65535);
  flags->AddDuration("shutdown_grace", &o->shutdown_grace,
                     "How long in-flight calls may run after SIGTERM before they are cancelled.");
  flags->AddDuration("drain_delay", &o->drain_delay,
                     "Pause after reporting NOT_SERVING before the listener closes.");
  flags->AddDuration("health_interval", &o->health_interval, "How often dependencies are probed.");
  flags->AddInt("max_receive_message_bytes", &o->max_receive_message_bytes,
                "Largest request accepted, in bytes.", 1024, 16 << 20);
  flags->AddDuration("max_connection_age", &o->max_connection_age,
                     "Connections are closed after this age so clients rebalance.");
  flags->AddDuration("max_connection_age_grace", &o->max_connection_age_grace,
                     "Time given to calls on a connection closed for age.");
  flags->AddDuration("max_connection_idle", &o->max_connection_idle,
                     "Idle connections are closed after this long.");
  flags->AddDuration("keepalive_time", &o->keepalive_time, "Server keepalive ping interval.");
  flags->AddDuration("keepalive_timeout", &o->keepalive_timeout, "Server keepalive ping timeout.");
  flags->AddDuration("min_client_ping_interval", &o->min_client_ping_interval,
                     "Clients pinging more often than this (without calls) earn a strike.");
  flags->AddInt("max_ping_strikes", &o->max_ping_strikes,
                "Ping strikes before a connection is closed (0 = never).", 0, 1000);
  flags->AddInt("max_concurrent_streams", &o->max_concurrent_streams,
                "Streams one connection may have open at once.", 1, 100000);
  flags->AddDuration("handshake_timeout", &o->handshake_timeout,
                     "Time a new connection has to finish its TLS/HTTP2 handshake.");
  flags->AddInt("grpc_memory_mib", &o->grpc_memory_mib,
                "gRPC memory quota in MiB (buffers and calls); near it, new connections are "
                "dropped and streams cancelled.",
                16, 1 << 20);
  flags->AddDuration("memory_trim_interval", &o->memory_trim_interval,
                     "How often freed heap memory is returned to the system (0s = never).");
  flags->AddInt("grpc_max_threads", &o->grpc_max_threads,
                "Threads gRPC may use for synchronous handlers (reflection).", 4, 10000);
  flags->AddString("log_level", &o->log_level, "debug, info, warning or error.");
  AddSecurityFlags(flags, &o->security);
}

namespace {
int g_signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  // Only async-signal-safe calls here: one write of one byte.
  char byte = static_cast<char>(sig);
  int saved_errno = errno;
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
  errno = saved_errno;
}
}  // namespace

void ServerRunner::PrepareProcess() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (g_signal_pipe[0] < 0 && ::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    LogError("signal_pipe_failed");
    return;
  }
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &action, nullptr);
  // A client vanishing mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);
}

ServerRunner::ServerRunner(ServerOptions options) : options_(std::move(options)) {}

ServerRunner::~ServerRunner() {
  RequestShutdown();
  if (signal_thread_.joinable()) signal_thread_.join();
  if (probe_thread_.joinable()) probe_thread_.join();
  if (trim_thread_.joinable()) trim_thread_.join();
  if (probe_server_) probe_server_->Shutdown(absl::ToChronoTime(absl::Now()));
  if (server_) server_->Shutdown(absl::ToChronoTime(absl::Now()));
}

void ServerRunner::AddService(grpc::Service* service, std::string full_name,
                              std::vector<std::string> raw_methods) {
  for (const std::string& m : raw_methods)
    raw_methods_.insert(absl::StrCat("/", full_name, "/", m));
  services_.emplace_back(service, std::move(full_name));
}

void ServerRunner::AddDependency(std::string name, std::function<absl::Status()> probe,
                                 bool required) {
  absl::MutexLock lock(&mu_);
  dependencies_.push_back({std::move(name), std::move(probe), required});
}

void ServerRunner::OnReload(std::function<void()> hook) {
  reload_hooks_.push_back(std::move(hook));
}

void ServerRunner::OnShutdown(std::function<void()> hook) {
  shutdown_hooks_.push_back(std::move(hook));
}

absl::Status ServerRunner::Start() {
  SetLogServiceName(options_.service_name);
  if (options_.log_level == "debug") {
    SetMinLogLevel(LogLevel::kDebug);
  } else if (options_.log_level == "warning") {
    SetMinLogLevel(LogLevel::kWarning);
  } else if (options_.log_level == "error") {
    SetMinLogLevel(LogLevel::kError);
  } else if (options_.log_level != "info") {
    return absl::InvalidArgumentError("--log_level must be debug, info, warning or error");
  }
  Metrics& m = Metrics::Default();
  m.Describe("legwise_build_info", "gauge", "Always 1; the version and git revision running.");
  m.Set("legwise_build_info", {{"version", LEGWISE_VERSION}, {"revision", LEGWISE_REVISION}}, 1);
  if (method_table_ == nullptr) {
    std::vector<std::string> names, missing;
    for (auto& [service, name] : services_) names.push_back(name);
    method_table_ = std::make_unique<MethodTable>(&m, MethodTable::Describe(names, &missing));
    for (const std::string& name : missing)
      LogError("service_not_in_descriptor_pool", {{"service", name}});
  }
  m.Describe("legwise_dependency_up", "gauge", "1 when a dependency answers its probe, else 0.");
  m.Describe("legwise_ready", "gauge", "1 when the server reports SERVING.");

  if (absl::Status s = ValidateSecurityOptions(options_.security, options_.listen_host); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options_.security);
  if (!credentials.ok()) return credentials.status();
  if (!options_.security.authentication_configured()) {
    LogWarning("development_mode",
               {{"reason", "no --jwks_file or --tls_client_ca_file: callers are not authenticated"},
                {"host", options_.listen_host}});
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::string host = options_.listen_host;
  if (host.find(':') != std::string::npos && host.front() != '[')
    host = absl::StrCat("[", host, "]");
  builder.AddListeningPort(absl::StrCat(host, ":", options_.port), *credentials, &port_);
  for (auto& [service, name] : services_) builder.RegisterService(service);

  builder.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, Ms(options_.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Ms(options_.max_connection_age_grace));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, Ms(options_.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Ms(options_.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Ms(options_.keepalive_timeout));
  // Let clients keep idle connections alive with pings every min_client_ping_interval or more;
  // more often earns strikes, and max_ping_strikes of them close the connection.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             Ms(options_.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, options_.max_ping_strikes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // What one connection, and all of them, may make us hold.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, Ms(options_.handshake_timeout));
  grpc::ResourceQuota quota("legwise-" + options_.service_name);
  quota.Resize(static_cast<size_t>(options_.grpc_memory_mib) << 20);
  quota.SetMaxThreads(options_.grpc_max_threads);
  builder.SetResourceQuota(quota);
  if (options_.security.authentication_configured()) {
    absl::StatusOr<std::unique_ptr<CallGuard>> guard = CallGuard::Create(options_.security);
    if (!guard.ok()) return guard.status();
    reflection_guard_ = *std::move(guard);
  }
  {
    std::vector<std::string> names;
    for (auto& [service, name] : services_) names.push_back(name);
    reflection_services_ = MakeReflectionServices(std::move(names), reflection_guard_.get());
    for (auto& service : reflection_services_) builder.RegisterService(service.get());
  }
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(
      std::make_unique<ObservabilityInterceptorFactory>(&raw_methods_, method_table_.get()));
  builder.experimental().SetInterceptorCreators(std::move(creators));

  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", options_.port, " (port in use?)"));
  }
  if (options_.probe_port > 0) {
    grpc::ServerBuilder probe;
    int bound = 0;
    probe.AddListeningPort(absl::StrCat(host, ":", options_.probe_port),
                           grpc::InsecureServerCredentials(), &bound);
    // Only health is served here; gRPC needs one callback service to poll for it, and this one
    // answers every other method UNIMPLEMENTED.
    probe.RegisterCallbackGenericService(&probe_generic_);
    probe_server_ = probe.BuildAndStart();
    if (probe_server_ == nullptr || bound == 0) {
      server_->Shutdown(absl::ToChronoTime(absl::Now()));
      return absl::UnavailableError(
          absl::StrCat("cannot listen on probe port ", options_.probe_port));
    }
  }
  if (options_.metrics_port > 0) {
    metrics_ = std::make_unique<MetricsHttpServer>(&Metrics::Default());
    if (absl::Status s = metrics_->Start(options_.listen_host, options_.metrics_port); !s.ok()) {
      server_->Shutdown(absl::ToChronoTime(absl::Now()));
      return s;
    }
  }
  SetHealth("liveness", true);
  ProbeOnce();
  probe_thread_ = std::thread([this] {
    while (!shutdown_requested_.WaitForNotificationWithTimeout(options_.health_interval)) {
      ProbeOnce();
    }
  });
  signal_thread_ = std::thread([this] { SignalLoop(); });
  if (options_.memory_trim_interval > absl::ZeroDuration()) {
    // glibc keeps freed memory in its arenas; without this, memory a burst of slow readers made
    // us allocate stays resident after they are gone.
    trim_thread_ = std::thread([this] {
      while (!shutdown_requested_.WaitForNotificationWithTimeout(options_.memory_trim_interval)) {
        malloc_trim(0);
      }
    });
  }
  LogInfo("listening", {{"port", port_},
                        {"host", options_.listen_host},
                        {"tls", options_.security.tls_cert_file.empty() ? "off" : "on"},
                        {"metrics_port", metrics_port()}});
  return absl::OkStatus();
}

void ServerRunner::ProbeOnce() {
  // Probes run outside the lock: they do network I/O with their own short timeouts.
  std::vector<std::pair<std::string, std::function<absl::Status()>>> probes;
  {
    absl::MutexLock lock(&mu_);
    for (const Dependency& d : dependencies_) probes.emplace_back(d.name, d.probe);
  }
  std::vector<bool> results;
  for (auto& [name, probe] : probes) results.push_back(probe().ok());
  if (shutting_down_.load()) return;
  bool ready = true;
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < dependencies_.size() && i < results.size(); ++i) {
    Dependency& d = dependencies_[i];
    if (d.up != static_cast<int>(results[i])) {
      LogInfo(results[i] ? "dependency_up" : "dependency_down",
              {{"dependency", d.name}, {"required", d.required ? "true" : "false"}});
    }
    d.up = results[i] ? 1 : 0;
    SetHealth(absl::StrCat("dependency/", d.name), results[i]);
    Metrics::Default().Set("legwise_dependency_up", {{"dependency", d.name}}, d.up);
    if (d.required && !results[i]) ready = false;
  }
  SetHealth("", ready);
  for (auto& [service, name] : services_) SetHealth(name, ready);
  Metrics::Default().Set("legwise_ready", {}, ready ? 1 : 0);
}

void ServerRunner::SetHealth(const std::string& service, bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(service, serving);
  if (probe_server_) probe_server_->GetHealthCheckService()->SetServingStatus(service, serving);
}

void ServerRunner::SignalLoop() {
  while (!shutdown_requested_.HasBeenNotified()) {
    if (g_signal_pipe[0] < 0) {
      // No handlers installed (e.g. a test running the runner in-process): nothing to read.
      shutdown_requested_.WaitForNotificationWithTimeout(absl::Milliseconds(200));
      continue;
    }
    pollfd pfd{g_signal_pipe[0], POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;
    char byte = 0;
    if (::read(g_signal_pipe[0], &byte, 1) != 1) continue;
    int sig = byte;
    if (sig == SIGHUP) {
      LogInfo("reload_requested");
      CallGuard::ReloadAll();  // the JWKS, at once (it is also polled)
      for (auto& hook : reload_hooks_) hook();
    } else if (sig == SIGTERM || sig == SIGINT) {
      LogInfo("signal", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      RequestShutdown();
    }
  }
}

void ServerRunner::RequestShutdown() {
  if (!shutdown_requested_.HasBeenNotified()) shutdown_requested_.Notify();
}

void ServerRunner::Wait() {
  shutdown_requested_.WaitForNotification();
  if (shutting_down_.exchange(true)) return;
  LogInfo("shutting_down", {{"grace_ms", Ms(options_.shutdown_grace)}});
  // NOT_SERVING everywhere first, so probes and balancers stop sending new calls.
  server_->GetHealthCheckService()->Shutdown();
  if (probe_server_) probe_server_->GetHealthCheckService()->Shutdown();
  Metrics::Default().Set("legwise_ready", {}, 0);
  if (options_.drain_delay > absl::ZeroDuration()) absl::SleepFor(options_.drain_delay);
  for (auto& hook : shutdown_hooks_) hook();
  // Stops accepting calls, waits for in-flight ones until the deadline, then cancels the rest.
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  if (probe_thread_.joinable()) probe_thread_.join();
  if (signal_thread_.joinable()) signal_thread_.join();
  if (trim_thread_.joinable()) trim_thread_.join();
  if (probe_server_) probe_server_->Shutdown(absl::ToChronoTime(absl::Now()));
  if (metrics_) metrics_->Stop();
  LogInfo("stopped");
}

absl::Status ServerRunner::Run() {
  if (absl::Status s = Start(); !s.ok()) return s;
  Wait();
  return absl::OkStatus();
}

}  // namespace legwise
