// legwise-content: wiring only. Flags, the parts, the shared runner.
#include <cstdio>
#include <memory>

#include "legwise/content/v1/content.grpc.pb.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/redis_client.h"
#include "services/common/server_runner.h"

int main(int argc, char** argv) {
  legwise::ServerRunner::InstallSignalHandlers();
  legwise::ServerOptions server;
  server.service_name = "content";
  server.port = 50052;
  server.metrics_port = 9462;
  legwise::RedisOptions redis;
  redis.connect_timeout = absl::Milliseconds(50);
  redis.command_timeout = absl::Milliseconds(50);
  legwise::FlagSet flags("legwise-content");
  legwise::AddServerFlags(&flags, &server);
  flags.AddString("redis_addr", &redis.address, "host:port of the Redis cache.");
  flags.AddDuration("redis_timeout", &redis.command_timeout,
                    "Redis command timeout; on timeout answers come from the catalog.");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "%s\n\n%s", std::string(s.message()).c_str(), flags.Usage().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (absl::Status s = legwise::ValidateHostPort(redis.address, "--redis_addr"); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }

  // Until the catalog lands, every RPC answers UNIMPLEMENTED (the generated default).
  legwise::content::v1::ContentService::CallbackService service;
  auto cache = std::make_shared<legwise::RedisClient>(redis);

  legwise::ServerRunner runner(server);
  runner.AddService(&service, "legwise.content.v1.ContentService");
  // Redis is only a cache: content answers from its catalog without it.
  runner.AddDependency("redis", [cache] { return cache->Ping(); }, /*required=*/false);
  if (absl::Status s = runner.Run(); !s.ok()) {
    legwise::LogError("start_failed", {{"error", std::string(s.message())}});
    return 1;
  }
  return 0;
}
