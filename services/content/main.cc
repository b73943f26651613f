// legwise-content: wiring only. Flags, the catalog (embedded, or --catalog_dir), the Redis-backed
// cache, the gRPC service; SIGHUP reloads the catalog. Serves without Redis (degraded).
#include <iostream>
#include <memory>
#include <string>

#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/page_token.h"
#include "services/common/redis_client.h"
#include "services/common/server_runner.h"
#include "services/content/content_cache.h"
#include "services/content/content_service.h"
#include "services/content/redis_store.h"

int main(int argc, char** argv) {
  legwise::ServerRunner::PrepareProcess();
  legwise::SetLogServiceName("content");

  legwise::ServerOptions server;
  server.service_name = "content";
  server.port = 50052;
  server.metrics_port = 9462;
  legwise::RedisOptions redis;
  redis.connect_timeout = absl::Milliseconds(50);
  redis.command_timeout = absl::Milliseconds(50);
  redis.reconnect_backoff = absl::Milliseconds(500);
  legwise::content::ContentCacheOptions cache_options;
  std::string catalog_dir;
  int l1_capacity = static_cast<int>(cache_options.l1_capacity);

  legwise::FlagSet flags("legwise-content");
  legwise::AddServerFlags(&flags, &server);
  flags.AddString(
      "redis_addr", &redis.address,
      "host:port of the Redis cache; with --redis_cluster, comma-separated seed nodes.");
  flags.AddBool("redis_cluster", &redis.cluster,
                "Redis Cluster: route each key to the master of its slot, follow MOVED/ASK.");
  flags.AddString("redis_password_file", &redis.password_file,
                  "File with the Redis password (else LEGWISE_REDIS_PASSWORD, else none).");
  flags.AddDuration("redis_timeout", &redis.command_timeout,
                    "Longest wait for one Redis reply; slower means degraded (catalog answers).");
  flags.AddDuration("redis_connect_timeout", &redis.connect_timeout,
                    "Longest wait for a Redis connect.");
  flags.AddString(
      "catalog_dir", &catalog_dir,
      "Serve the catalog from this directory (reloaded on SIGHUP) instead of the embedded one.");
  flags.AddInt("l1_capacity", &l1_capacity, "Answers kept in the in-process LRU (0 disables it).",
               0, 10000000);
  flags.AddDuration("cache_ttl", &cache_options.ttl,
                    "Redis TTL of a cached answer (+/- 10% jitter).");
  flags.AddDuration("negative_cache_ttl", &cache_options.negative_ttl,
                    "Redis TTL of an empty answer for an unknown code.");
  flags.AddDuration("redis_retry_interval", &cache_options.remote_retry_interval,
                    "After a Redis failure, how long answers skip Redis before trying it again.");
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
  if (absl::Status s = redis.cluster ? legwise::ValidateHostPortList(redis.address, "redis_addr")
                                     : legwise::ValidateHostPort(redis.address, "redis_addr");
      !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  cache_options.l1_capacity = static_cast<size_t>(l1_capacity);
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

  absl::StatusOr<std::shared_ptr<const legwise::content::Catalog>> catalog =
      legwise::content::LoadCatalog(catalog_dir);
  if (!catalog.ok()) {
    legwise::LogError("catalog_load_failed", {{"error", std::string(catalog.status().message())}});
    return 1;
  }
  legwise::LogInfo("catalog_loaded", {{"version", (*catalog)->version()},
                                      {"source", catalog_dir.empty() ? "embedded" : "directory"}});
  legwise::content::CatalogHolder holder(*catalog);

  auto redis_client = std::make_shared<legwise::RedisClient>(redis);
  legwise::content::RedisRemoteStore store(redis_client.get());
  legwise::content::ContentCache cache(cache_options, &store);
  legwise::content::ContentServiceImpl service(&holder, &cache, guard->get());

  legwise::ServerRunner runner(server);
  runner.AddService(&service, "legwise.content.v1.ContentService",
                    legwise::content::ContentServiceImpl::kRawMethods);
  runner.AddDependency(
      "redis",
      [redis_client, &holder, &cache] {
        absl::Status s = redis_client->Ping();
        legwise::content::PublishContentMetrics(holder, cache, s.ok());
        return s;
      },
      /*required=*/false);
  runner.OnReload([&] { (void)legwise::content::ReloadCatalog(catalog_dir, &holder, &cache); });
  if (absl::Status s = runner.Run(); !s.ok()) {
    legwise::LogError("start_failed", {{"error", std::string(s.message())}});
    return 1;
  }
  return 0;
}
