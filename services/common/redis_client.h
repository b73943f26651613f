// A thread-safe Redis client over hiredis: a pool of blocking connections (a hiredis context is not
// thread-safe, so each call borrows one exclusively), connect and command timeouts, pipelining,
// EVALSHA with automatic script loading, and reconnection after errors. While Redis is down, calls
// fail fast with UNAVAILABLE (after a failed connect, no new attempt for `reconnect_backoff`), and
// they succeed again once it is back, without restarting the client.
//
// With `cluster` set it speaks Redis Cluster (https://redis.io/docs/reference/cluster-spec/): the
// address is a comma-separated list of seed nodes, each command goes to the master owning its key's
// slot (CRC16 of the key or of its {hash tag}, mod 16384) over a per-node pool, the slot map comes
// from CLUSTER SLOTS (at the first call, after a MOVED or a lost node, and every
// `slots_refresh_interval`), MOVED and ASK (with ASKING) redirections are followed, and TRYAGAIN
// and CLUSTERDOWN are retried with a bounded backoff until the command's deadline. A command whose
// keys hash to different slots is INVALID_ARGUMENT; a pipeline may mix slots (it is sent as one
// pipeline per node, replies in order).
#ifndef LEGWISE_SERVICES_COMMON_REDIS_CLIENT_H_
#define LEGWISE_SERVICES_COMMON_REDIS_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace legwise {

struct RedisOptions {
  // host:port of the Redis server; with `cluster`, a comma-separated list of seed nodes.
  std::string address = "127.0.0.1:6379";
  // Redis Cluster mode (--redis_cluster).
  bool cluster = false;
  // Cluster mode: how often the slot map is re-read even when nothing suggested it changed.
  absl::Duration slots_refresh_interval = absl::Seconds(15);
  // Longest wait for a TCP connect.
  absl::Duration connect_timeout = absl::Milliseconds(250);
  // Longest wait for one command's (or one pipeline's) reply; in cluster mode also the deadline
  // within which redirections and TRYAGAIN/CLUSTERDOWN are retried.
  absl::Duration command_timeout = absl::Milliseconds(500);
  // Most connections open at once (per node in cluster mode); callers beyond it wait up to
  // command_timeout for one.
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
  class NodePool;  // the connections to one node
  struct Routed;   // one command of a cluster pipeline on its way

  NodePool* PoolFor(const std::string& address);
  // Sends `commands` to one node as one pipeline (ASKING before those with `asking` set) and reads
  // every reply. *sent is false when the commands surely never left (no connection could be had).
  absl::StatusOr<std::vector<RedisReply>> Send(
      NodePool* pool, const std::vector<const std::vector<std::string>*>& commands,
      const std::vector<bool>& asking, bool* sent);
  absl::StatusOr<std::vector<RedisReply>> ClusterPipeline(
      const std::vector<std::vector<std::string>>& commands);
  // Reads the slot map from the first node that answers, unless it is fresh (`force`: unless it
  // was read in the last few milliseconds). Concurrent callers do not refresh twice.
  absl::Status RefreshSlots(bool force);
  absl::Status Fail(absl::Status status);
  // The SHA-1 Redis names `script` by, computed once per script text.
  std::string ScriptSha(const std::string& script);

  RedisOptions options_;
  std::vector<std::string> seeds_;  // the addresses in options_.address

  absl::Mutex pools_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<NodePool>> pools_ ABSL_GUARDED_BY(pools_mu_);

  // Cluster mode: the slot map.
  absl::Mutex refresh_mu_;  // held by the one caller reading the map
  absl::Mutex slots_mu_;
  std::vector<int> slot_owner_
      ABSL_GUARDED_BY(slots_mu_);  // slot -> index in masters_, -1: unknown
  std::vector<std::string> masters_ ABSL_GUARDED_BY(slots_mu_);
  bool slots_stale_ ABSL_GUARDED_BY(slots_mu_) = true;
  absl::Time slots_read_at_ ABSL_GUARDED_BY(slots_mu_) = absl::InfinitePast();

  absl::Mutex sha_mu_;
  absl::flat_hash_map<std::string, std::string> sha_of_ ABSL_GUARDED_BY(sha_mu_);

  std::atomic<bool> last_ok_{false};
  std::atomic<uint64_t> round_trips_{0};
};

// Whether an error reply means "not now" rather than "wrong": LOADING (loading its data after a
// restart), BUSY (a script runs too long), MASTERDOWN (a replica that lost its master and serves no
// stale data), TRYAGAIN and CLUSTERDOWN (a cluster mid-change).
bool IsTransientRedisError(absl::string_view error);

// One pipeline (one round trip), each reply read on its own by `parse`: one answer per command, in
// order. A transport failure is every answer; an error reply is INTERNAL carrying its text.
template <typename T, typename Parse>
std::vector<absl::StatusOr<T>> PipelineEach(RedisClient& redis,
                                            const std::vector<std::vector<std::string>>& commands,
                                            Parse parse) {
  std::vector<absl::StatusOr<T>> out;
  out.reserve(commands.size());
  if (commands.empty()) return out;
  absl::StatusOr<std::vector<RedisReply>> replies = redis.Pipeline(commands);
  for (size_t i = 0; i < commands.size(); ++i) {
    if (!replies.ok()) {
      out.push_back(replies.status());
    } else if ((*replies)[i].is_error()) {
      out.push_back(absl::InternalError((*replies)[i].str));
    } else {
      out.push_back(parse((*replies)[i]));
    }
  }
  return out;
}

// Builds a RedisReply from a hiredis reply (exposed for tests).
RedisReply CopyReply(const void* hiredis_reply);

// Redis Cluster pieces, pure (exposed for tests).
namespace redis_cluster {

inline constexpr int kSlots = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), as the cluster specification defines it.
uint16_t Crc16(absl::string_view data);

// The slot of a key: CRC16 of the key, or of the part between the first '{' and the next '}' when
// that part is not empty, mod 16384.
int KeySlot(absl::string_view key);

// The keys of a command that decide where it goes: all of them for the multi-key commands this
// client knows (DEL, MGET, EVAL, XREAD, ...), otherwise the first key. Empty for a command with no
// key (PING, INFO, EVAL with 0 keys). INVALID_ARGUMENT when the arguments are malformed.
absl::StatusOr<std::vector<absl::string_view>> CommandKeys(const std::vector<std::string>& args);

// The one slot a command's keys hash to, -1 for a keyless command, or INVALID_ARGUMENT naming the
// command when its keys hash to different slots (Redis would answer CROSSSLOT).
absl::StatusOr<int> CommandSlot(const std::vector<std::string>& args);

// A MOVED or ASK error reply: "MOVED 3999 127.0.0.1:6381". An empty host in the reply means the
// host of the node that sent it (`from`).
struct Redirect {
  bool ask = false;
  int slot = -1;
  std::string address;
};
std::optional<Redirect> ParseRedirect(absl::string_view error, absl::string_view from);

// The masters of a CLUSTER SLOTS reply and, per slot, the index of its master (-1: unserved). An
// empty or "?" host means the host of the node that answered (`from`).
struct SlotMap {
  std::vector<std::string> masters;
  std::vector<int> owner = std::vector<int>(kSlots, -1);
};
absl::StatusOr<SlotMap> ParseClusterSlots(const RedisReply& reply, absl::string_view from);

}  // namespace redis_cluster

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_REDIS_CLIENT_H_
