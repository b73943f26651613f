// legwise-reminder: wiring only. Flags, the store (Redis, or memory with --memory_store), the text
// provider, the dispatcher, the StreamNudges hub and the gRPC service, handed to the ServerRunner.
#include <iostream>
#include <memory>
#include <string>

#include "services/common/client_channel.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/page_token.h"
#include "services/common/redis_client.h"
#include "services/common/security.h"
#include "services/common/server_runner.h"
#include "services/reminder/delivery/dispatcher.h"
#include "services/reminder/delivery/nudge_hub.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/devices/device_store.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/reminder_service.h"
#include "services/reminder/store/memory_store.h"
#include "services/reminder/store/redis_store.h"

int main(int argc, char** argv) {
  legwise::ServerRunner::PrepareProcess();
  legwise::SetLogServiceName("reminder");

  legwise::ServerOptions server;
  server.service_name = "reminder";
  server.port = 50053;
  server.metrics_port = 9463;
  legwise::RedisOptions redis;
  int redis_pool = 0;
  std::string content_addr = "127.0.0.1:50052";
  bool memory_store = false;
  legwise::reminder::DispatcherOptions dispatch;
  legwise::reminder::RedisStoreOptions store_options;
  absl::Duration content_deadline = absl::Milliseconds(300);
  bool dispatcher_enabled = true;
  int handler_threads = 16;
  int handler_queue = 2048;
  legwise::ClientTlsOptions content_tls;

  legwise::FlagSet flags("legwise-reminder");
  legwise::AddServerFlags(&flags, &server);
  flags.AddString("redis_addr", &redis.address,
                  "host:port of Redis (plans, due index, outbox); with --redis_cluster, "
                  "comma-separated seed nodes.");
  flags.AddBool("redis_cluster", &redis.cluster,
                "Redis Cluster: route each key to the master of its slot, follow MOVED/ASK.");
  flags.AddString("redis_password_file", &redis.password_file,
                  "File with the Redis password (else LEGWISE_REDIS_PASSWORD, else none).");
  legwise::AddClientTlsFlags(&flags, "content", &content_tls);
  flags.AddString("content_addr", &content_addr,
                  "host:port of legwise-content (nudge texts); \"\" = built-in texts only.");
  flags.AddBool("memory_store", &memory_store,
                "Keep everything in memory instead of Redis (development only: one replica, "
                "nothing survives a restart).");
  flags.AddDuration(
      "misfire_threshold", &dispatch.misfire_threshold,
      "Occurrences older than this when a dispatcher reaches them (after downtime) are "
      "skipped, not delivered late.");
  flags.AddDuration("lease", &dispatch.lease,
                    "How long a claimed occurrence is held before another replica may take it.");
  flags.AddInt("dispatch_batch", &dispatch.batch_size, "Occurrences claimed per round trip.", 1,
               10000);
  flags.AddInt("dispatch_threads", &dispatch.worker_threads,
               "Dispatcher worker threads (each claims and publishes on its own).", 1, 16);
  flags.AddDuration("dispatch_idle_wait", &dispatch.max_idle_wait,
                    "Longest wait before an idle bucket is claimed again (writes that make "
                    "someone due sooner wake the dispatcher at once).");
  flags.AddDuration("legacy_check_interval", &dispatch.drained_maintenance_interval,
                    "Once the previous (per-occurrence) layout is drained: how often it is "
                    "checked again for data an older replica wrote.");
  flags.AddBool("dispatcher", &dispatcher_enabled,
                "Run the dispatcher in this process (false: serve the API only).");
  flags.AddInt("due_buckets", &store_options.num_buckets,
               "Buckets of the due index; fixed per deployment.", 1, 1024);
  flags.AddDuration("content_deadline", &content_deadline, "Deadline of ListNudgeTexts calls.");
  flags.AddInt("handler_threads", &handler_threads,
               "Threads running the RPC handlers' Redis calls (each holds one pooled Redis "
               "connection while it works).",
               1, 256);
  flags.AddInt("handler_queue", &handler_queue,
               "RPCs that may wait for a handler thread; more are RESOURCE_EXHAUSTED.", 1, 100000);
  flags.AddInt("redis_pool", &redis_pool,
               "Redis connections at most, shared by the handler threads, the dispatcher and the "
               "hub (0 = handler_threads + dispatch_threads + 5).",
               0, 1024);
  flags.AddString("replica_id", &dispatch.replica_id,
                  "Name of this replica in lease tokens (default: random).");
  bool push_allow_insecure_loopback = false;
  flags.AddBool("push_allow_insecure_loopback", &push_allow_insecure_loopback,
                "Development and tests only: accept http://127.0.0.1:PORT/... Web Push endpoints "
                "in RegisterDevice.");
  std::string page_token_key_file;
  flags.AddString("page_token_key_file", &page_token_key_file,
                  "File with the key (>= 16 bytes) that signs page tokens; every replica of a "
                  "deployment uses the same one. \"\" = a built-in key (development).");
  if (std::optional<int> exit_code = flags.ParseMain(argc, argv)) return *exit_code;
  if (!page_token_key_file.empty()) {
    if (absl::Status s = legwise::InstallPageTokenKeyFile(page_token_key_file); !s.ok()) {
      std::cerr << s.message() << "\n";
      return 2;
    }
  }
  if (!content_addr.empty()) {
    if (absl::Status s = legwise::ValidateHostPort(content_addr, "content_addr"); !s.ok()) {
      std::cerr << s.message() << "\n";
      return 2;
    }
  }
  if (absl::Status s = redis.cluster ? legwise::ValidateHostPortList(redis.address, "redis_addr")
                                     : legwise::ValidateHostPort(redis.address, "redis_addr");
      !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }

  // Enough that no handler or dispatcher thread waits for a connection (maintenance, the wake-up
  // waiter, hub and health checks take the rest).
  redis.pool_size = redis_pool > 0 ? redis_pool : handler_threads + dispatch.worker_threads + 5;
  store_options.wake_within = dispatch.max_idle_wait;
  if (absl::Status s = legwise::LoadRedisPassword(&redis); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<legwise::CallGuard>> guard =
      legwise::CallGuard::Create(server.security);
  if (!guard.ok()) {
    std::cerr << guard.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> content_credentials =
      legwise::MakeChannelCredentials(content_tls);
  if (!content_credentials.ok()) {
    std::cerr << content_credentials.status().message() << "\n";
    return 2;
  }

  std::shared_ptr<legwise::RedisClient> redis_client;
  std::unique_ptr<legwise::reminder::ReminderStore> store;
  std::unique_ptr<legwise::reminder::DeviceStore> devices;
  if (memory_store) {
    auto memory = std::make_unique<legwise::reminder::MemoryReminderStore>();
    memory->set_wake_within(dispatch.max_idle_wait);
    store = std::move(memory);
    devices = std::make_unique<legwise::reminder::MemoryDeviceStore>();
    legwise::LogWarning("memory_store", {{"note", "development only; nothing is persisted"}});
  } else {
    redis_client = std::make_shared<legwise::RedisClient>(redis);
    auto redis_store =
        std::make_unique<legwise::reminder::RedisReminderStore>(redis_client, store_options);
    (void)redis_store->EnsureOutboxGroups();  // retried on first publish when Redis is not up yet
    store = std::move(redis_store);
    devices = std::make_unique<legwise::reminder::RedisDeviceStore>(redis_client);
  }
  if (push_allow_insecure_loopback) {
    legwise::LogWarning("push_allow_insecure_loopback",
                        {{"note", "development only; http://127.0.0.1 push endpoints accepted"}});
  }

  std::shared_ptr<grpc::Channel> content_channel;
  if (!content_addr.empty()) {
    content_channel = legwise::MakeClientChannel(content_addr, *content_credentials);
  }
  legwise::reminder::NudgeTextProvider texts(content_channel, content_deadline);

  const legwise::reminder::Planner planner;
  legwise::reminder::NudgeHub hub(store.get());
  legwise::reminder::Dispatcher dispatcher(store.get(), &texts, planner.rules(), dispatch);
  // Declared before the service and the runner: destroyed after the server stopped, so every
  // accepted call has finished by then.
  legwise::Executor handlers(handler_threads, static_cast<size_t>(handler_queue));
  legwise::reminder::ReminderServiceOptions service_options;
  service_options.guard = guard->get();
  service_options.executor = &handlers;
  service_options.devices = devices.get();
  service_options.push_endpoints.allow_insecure_loopback = push_allow_insecure_loopback;
  legwise::reminder::ReminderServiceImpl service(store.get(), &hub, &texts, &planner,
                                                 service_options);

  legwise::ServerRunner runner(server);
  runner.AddService(&service, "legwise.reminder.v1.ReminderService");
  if (!memory_store) {
    // Required: without Redis there are no plans and no delivery, so the server is NOT_SERVING.
    runner.AddDependency(
        "redis", [&store] { return store->Ping(); }, /*required=*/true);
  }
  if (content_channel) {
    runner.AddDependency(
        "content",
        [content_channel] {
          return legwise::CheckDownstreamHealth(content_channel.get(), absl::Milliseconds(300));
        },
        /*required=*/false);
  }
  runner.OnShutdown([&] {
    service.EndStreams();
    dispatcher.Stop();
    hub.Stop();
  });

  hub.Start();
  if (dispatcher_enabled) dispatcher.Start();
  if (absl::Status s = runner.Run(); !s.ok()) {
    legwise::LogError("start_failed", {{"error", std::string(s.message())}});
    dispatcher.Stop();
    hub.Stop();
    return 1;
  }
  dispatcher.Stop();
  hub.Stop();
  legwise::LogInfo("stopped");
  return 0;
}
