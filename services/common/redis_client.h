// A thread-safe Redis client over hiredis: a pool of blocking connections (a hiredis context is not
// thread-safe, so each call borrows one exclusively), connect and command timeouts, pipelining,
// EVALSHA with automatic script loading, and reconnection after errors. While Redis is down, calls
// fail fast with UNAVAILABLE (after a failed connect, no new attempt for `reconnect_backoff`), and
// they succeed again once it is back, without restarting the client.
#ifndef LEGWISE_SERVICES_COMMON_REDIS_CLIENT_H_
#define LEGWISE_SERVICES_COMMON_REDIS_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct redisContext;

namespace legwise {

struct RedisOptions {
  // host:port of the Redis server.
  std::string address = "127.0.0.1:6379";
  // Longest wait for a TCP connect.
  absl::Duration connect_timeout = absl::Milliseconds(250);
  // Longest wait for one command's (or one pipeline's) reply.
  absl::Duration command_timeout = absl::Milliseconds(500);
  // Most connections open at once; callers beyond it wait up to command_timeout for one.
  int pool_size = 8;
  // After a failed connect, calls fail immediately for this long instead of each trying to connect.
  absl::Duration reconnect_backoff = absl::Milliseconds(100);
  // Sent with AUTH after connecting when not empty. Set by LoadRedisPassword, never by a flag.
  std::string password;
  // File holding the password (--redis_password_file); otherwise LEGWISE_REDIS_PASSWORD is read.
  std::string password_file;
};

// Fills options->password from options->password_file, or from the LEGWISE_REDIS_PASSWORD
// environment variable (e.g. from a Kubernetes Secret); leaves it empty when neither is set.
absl::Status LoadRedisPassword(RedisOptions* options);

// One reply, copied out of hiredis so callers never hold hiredis memory.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;                   // kString, kStatus, kError
  int64_t integer = 0;               // kInteger
  std::vector<RedisReply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
};

class RedisClient {
 public:
  explicit RedisClient(RedisOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command, e.g. {"SET", key, value, "PX", "1000"}. Transport problems, timeouts and
  // the replies of a server that cannot serve for now (IsTransientRedisError) are UNAVAILABLE;
  // any other error reply from Redis is INTERNAL carrying its text.
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args);

  // Sends every command in one write and reads every reply: one network round trip. Error replies
  // are returned in place (type kError); transport problems, and any transient error reply
  // (IsTransientRedisError), fail the whole call with UNAVAILABLE.
  absl::StatusOr<std::vector<RedisReply>> Pipeline(
      const std::vector<std::vector<std::string>>& commands);

  // Runs a Lua script by its SHA1 (EVALSHA), loading it on NOSCRIPT.
  absl::StatusOr<RedisReply> Eval(const std::string& script, const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args);

  // PING; OK when Redis answered PONG.
  absl::Status Ping();

  // Whether the last call reached Redis. Cheap; used for health and metrics.
  bool last_call_ok() const { return last_ok_.load(std::memory_order_relaxed); }

  // Network round trips made so far (one per Command, Pipeline or Eval attempt). For
  // tests/benchmarks.
  uint64_t round_trips() const { return round_trips_.load(std::memory_order_relaxed); }

  const RedisOptions& options() const { return options_; }

 private:
  struct ContextDeleter {
    void operator()(redisContext* c) const;
  };
  using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

  absl::StatusOr<ContextPtr> Acquire();
  void Release(ContextPtr context, bool healthy);
  absl::StatusOr<ContextPtr> Connect();
  absl::Status Fail(absl::Status status);
  // The SHA-1 Redis names `script` by, computed once per script text.
  std::string ScriptSha(const std::string& script);

  RedisOptions options_;
  std::string host_;
  int port_ = 0;

  absl::Mutex mu_;
  std::vector<ContextPtr> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time down_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  absl::Mutex sha_mu_;
  absl::flat_hash_map<std::string, std::string> sha_of_ ABSL_GUARDED_BY(sha_mu_);

  std::atomic<bool> last_ok_{false};
  std::atomic<uint64_t> round_trips_{0};
};

// Whether an error reply means "not now" rather than "wrong": LOADING (loading its data after a
// restart), BUSY (a script runs too long), MASTERDOWN (a replica that lost its master and serves no
// stale data), TRYAGAIN and CLUSTERDOWN (a cluster mid-change).
bool IsTransientRedisError(absl::string_view error);

// Builds a RedisReply from a hiredis reply (exposed for tests).
RedisReply CopyReply(const void* hiredis_reply);

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_REDIS_CLIENT_H_
