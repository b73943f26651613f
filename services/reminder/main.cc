// legwise-reminder: wiring only. Flags, the parts, the shared runner.
#include <cstdio>
#include <memory>

#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "services/common/client_channel.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/redis_client.h"
#include "services/common/server_runner.h"

int main(int argc, char** argv) {
  legwise::ServerRunner::InstallSignalHandlers();
  legwise::ServerOptions server;
  server.service_name = "reminder";
  server.port = 50053;
  server.metrics_port = 9463;
  legwise::RedisOptions redis;
  std::string content_addr = "127.0.0.1:50052";
  bool memory_store = false;
  legwise::FlagSet flags("legwise-reminder");
  legwise::AddServerFlags(&flags, &server);
  flags.AddString("redis_addr", &redis.address, "host:port of the Redis store.");
  flags.AddString("content_addr", &content_addr, "host:port of legwise-content (nudge texts).");
  flags.AddBool("memory_store", &memory_store,
                "Development only: keep plans in memory instead of Redis (lost on restart).");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "%s\n\n%s", std::string(s.message()).c_str(), flags.Usage().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  for (auto [value, name] : {std::pair{redis.address, "--redis_addr"},
                             std::pair{content_addr, "--content_addr"}}) {
    if (absl::Status s = legwise::ValidateHostPort(value, name); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 2;
    }
  }

  // Until the planner lands, every RPC answers UNIMPLEMENTED (the generated default).
  legwise::reminder::v1::ReminderService::CallbackService service;
  auto store = std::make_shared<legwise::RedisClient>(redis);
  std::shared_ptr<grpc::Channel> content = legwise::MakeClientChannel(content_addr);

  legwise::ServerRunner runner(server);
  runner.AddService(&service, "legwise.reminder.v1.ReminderService");
  if (!memory_store) {
    // Plans live in Redis: without it the service cannot serve.
    runner.AddDependency("redis", [store] { return store->Ping(); }, /*required=*/true);
  }
  runner.AddDependency(
      "content",
      [content] { return legwise::CheckDownstreamHealth(content.get(), absl::Milliseconds(300)); },
      /*required=*/false);
  if (absl::Status s = runner.Run(); !s.ok()) {
    legwise::LogError("start_failed", {{"error", std::string(s.message())}});
    return 1;
  }
  return 0;
}
