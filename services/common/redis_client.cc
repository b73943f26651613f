#include "services/common/redis_client.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "services/common/security.h"

namespace legwise {
namespace {

timeval ToTv(absl::Duration d) { return absl::ToTimeval(d); }

std::string Sha1Hex(const std::string& script);

}  // namespace

bool IsTransientRedisError(absl::string_view error) {
  // The error code is the reply's first word. BUSYGROUP (a stream group that exists) is an answer,
  // not a busy server: whole words only.
  absl::string_view code = error.substr(0, error.find(' '));
  return code == "LOADING" || code == "BUSY" || code == "MASTERDOWN" || code == "TRYAGAIN" ||
         code == "CLUSTERDOWN";
}

RedisReply CopyReply(const void* raw) {
  const auto* r = static_cast<const redisReply*>(raw);
  RedisReply out;
  if (r == nullptr) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(CopyReply(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

struct ContextDeleter {
  void operator()(redisContext* c) const {
    if (c != nullptr) redisFree(c);
  }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

// The connections to one node: at most options.pool_size, handed out one caller at a time.
class RedisClient::NodePool {
 public:
  NodePool(std::string address, const RedisOptions& options)
      : address_(std::move(address)), options_(options) {
    size_t colon = address_.rfind(':');
    host_ = address_.substr(0, colon);
    if (!host_.empty() && host_.front() == '[') host_ = host_.substr(1, host_.size() - 2);
    if (colon == std::string::npos || !absl::SimpleAtoi(address_.substr(colon + 1), &port_)) {
      port_ = 0;  // every call fails with a clear message naming the address
    }
  }

  const std::string& address() const { return address_; }

  absl::StatusOr<ContextPtr> Acquire(absl::Time deadline) {
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        if (!idle_.empty()) {
          ContextPtr c = std::move(idle_.back());
          idle_.pop_back();
          return c;
        }
        if (absl::Now() < down_until_) {
          return absl::UnavailableError(
              absl::StrCat("redis ", address_, " is down (recent connect failed)"));
        }
        if (open_ < options_.pool_size) {
          ++open_;
          break;
        }
        auto free_or_deadline = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return !idle_.empty() || open_ < options_.pool_size;
        };
        if (!mu_.AwaitWithDeadline(absl::Condition(&free_or_deadline), deadline)) {
          return absl::UnavailableError("redis: no free connection in the pool in time");
        }
      }
    }
    absl::StatusOr<ContextPtr> c = Connect();
    if (!c.ok()) {
      absl::MutexLock lock(&mu_);
      --open_;
      down_until_ = absl::Now() + options_.reconnect_backoff;
    }
    return c;
  }

  void Release(ContextPtr context, bool healthy) {
    absl::MutexLock lock(&mu_);
    if (healthy) {
      idle_.push_back(std::move(context));
      return;
    }
    // The connection broke: the server probably restarted or the network failed, so the idle ones
    // are most likely dead too. Drop them all; the next calls open fresh connections.
    --open_;
    open_ -= static_cast<int>(idle_.size());
    idle_.clear();
  }

 private:
  absl::StatusOr<ContextPtr> Connect() {
    if (port_ == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis address '", address_, "' is not host:port"));
    }
    ContextPtr c(redisConnectWithTimeout(host_.c_str(), port_, ToTv(options_.connect_timeout)));
    if (c == nullptr) return absl::UnavailableError("redis: out of memory creating a context");
    if (c->err) {
      return absl::UnavailableError(absl::StrCat("redis ", address_, " unreachable: ", c->errstr));
    }
    timeval tv = ToTv(options_.command_timeout);
    if (redisSetTimeout(c.get(), tv) != REDIS_OK) {
      return absl::UnavailableError(absl::StrCat("redis: cannot set timeout: ", c->errstr));
    }
    redisEnableKeepAlive(c.get());
    if (!options_.password.empty()) {
      auto* reply = static_cast<redisReply*>(
          redisCommand(c.get(), "AUTH %b", options_.password.data(), options_.password.size()));
      RedisReply copy = CopyReply(reply);
      if (reply != nullptr) freeReplyObject(reply);
      if (reply == nullptr || copy.is_error()) {
        // The error text names no secret.
        return absl::PermissionDeniedError("redis: AUTH failed (check the redis password setting)");
      }
    }
    return c;
  }

  const std::string address_;
  const RedisOptions& options_;
  std::string host_;
  int port_ = 0;

  absl::Mutex mu_;
  std::vector<ContextPtr> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time down_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

RedisClient::RedisClient(RedisOptions options) : options_(std::move(options)) {
  if (options_.pool_size < 1) options_.pool_size = 1;
  if (options_.cluster) {
    for (absl::string_view seed : absl::StrSplit(options_.address, ',', absl::SkipWhitespace())) {
      seeds_.emplace_back(absl::StripAsciiWhitespace(seed));
    }
  }
  if (seeds_.empty()) seeds_.push_back(options_.address);
  Metrics::Default().Describe("legwise_redis_errors_total", "counter",
                              "Redis calls that failed, by kind (unavailable, reply).");
  Metrics::Default().Describe("legwise_redis_calls_total", "counter",
                              "Redis round trips attempted.");
  Metrics::Default().Describe("legwise_redis_call_duration_seconds", "histogram",
                              "Latency of Redis round trips (one pipeline each) that got replies.");
  Metrics::Default().Describe("legwise_redis_cluster_redirects_total", "counter",
                              "Redis Cluster replies that sent a command elsewhere, by kind "
                              "(moved, ask, tryagain, clusterdown).");
}

RedisClient::~RedisClient() = default;

RedisClient::NodePool* RedisClient::PoolFor(const std::string& address) {
  absl::MutexLock lock(&pools_mu_);
  std::unique_ptr<NodePool>& pool = pools_[address];
  if (pool == nullptr) pool = std::make_unique<NodePool>(address, options_);
  return pool.get();
}

absl::StatusOr<std::vector<RedisReply>> RedisClient::Send(
    NodePool* pool, const std::vector<const std::vector<std::string>*>& commands,
    const std::vector<bool>& asking, bool* sent) {
  *sent = false;
  absl::StatusOr<ContextPtr> c = pool->Acquire(absl::Now() + options_.command_timeout);
  if (!c.ok()) return c.status();
  *sent = true;
  round_trips_.fetch_add(1, std::memory_order_relaxed);
  Metrics::Default().Increment("legwise_redis_calls_total");
  const absl::Time started = absl::Now();
  redisContext* ctx = c->get();
  size_t expected = 0;
  for (size_t i = 0; i < commands.size(); ++i) {
    if (!asking.empty() && asking[i]) {
      redisAppendCommand(ctx, "ASKING");
      ++expected;
    }
    const std::vector<std::string>& args = *commands[i];
    std::vector<const char*> argv;
    std::vector<size_t> argvlen;
    argv.reserve(args.size());
    argvlen.reserve(args.size());
    for (const std::string& a : args) {
      argv.push_back(a.data());
      argvlen.push_back(a.size());
    }
    redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), argvlen.data());
    ++expected;
  }
  std::vector<RedisReply> replies;
  replies.reserve(commands.size());
  size_t next = 0;  // the command the next reply answers
  bool pending_asking = !asking.empty() && asking[0];
  for (size_t i = 0; i < expected; ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx, &raw) != REDIS_OK || raw == nullptr) {
      std::string err = ctx->err ? ctx->errstr : "no reply";
      if (ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) err = "timed out";
      pool->Release(std::move(*c), /*healthy=*/false);
      return absl::UnavailableError(absl::StrCat("redis ", pool->address(), ": ", err));
    }
    if (pending_asking) {
      pending_asking = false;  // ASKING's +OK
    } else {
      replies.push_back(CopyReply(raw));
      ++next;
      pending_asking = next < commands.size() && !asking.empty() && asking[next];
    }
    freeReplyObject(raw);
  }
  pool->Release(std::move(*c), /*healthy=*/true);
  Metrics::Default().Observe("legwise_redis_call_duration_seconds", {},
                             absl::ToDoubleSeconds(absl::Now() - started));
  return replies;
}

namespace {

// The first word of an error reply: "MOVED", "TRYAGAIN", ...
absl::string_view ErrorCode(absl::string_view error) { return error.substr(0, error.find(' ')); }

// A server that is loading its data, running a long script, a replica cut off from its master or a
// cluster mid-change answers so: unavailable for now, not wrong.
absl::Status TransientReplyStatus(const std::vector<RedisReply>& replies,
                                  absl::string_view address) {
  for (const RedisReply& reply : replies) {
    if (reply.is_error() && IsTransientRedisError(reply.str)) {
      return absl::UnavailableError(
          absl::StrCat("redis ", address, " cannot serve now (", ErrorCode(reply.str), "); retry"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RedisClient::Fail(absl::Status status) {
  last_ok_.store(false, std::memory_order_relaxed);
  Metrics::Default().Increment(
      "legwise_redis_errors_total",
      {{"kind", status.code() == absl::StatusCode::kUnavailable ? "unavailable" : "reply"}});
  return status;
}

absl::StatusOr<std::vector<RedisReply>> RedisClient::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (commands.empty()) return std::vector<RedisReply>{};
  if (options_.cluster) return ClusterPipeline(commands);
  NodePool* pool = PoolFor(options_.address);
  std::vector<const std::vector<std::string>*> ptrs;
  ptrs.reserve(commands.size());
  for (const auto& c : commands) ptrs.push_back(&c);
  bool sent = false;
  absl::StatusOr<std::vector<RedisReply>> replies = Send(pool, ptrs, {}, &sent);
  if (!replies.ok()) return Fail(replies.status());
  if (absl::Status s = TransientReplyStatus(*replies, options_.address); !s.ok()) return Fail(s);
  last_ok_.store(true, std::memory_order_relaxed);
  return replies;
}

absl::StatusOr<RedisReply> RedisClient::Command(const std::vector<std::string>& args) {
  absl::StatusOr<std::vector<RedisReply>> replies = Pipeline({args});
  if (!replies.ok()) return replies.status();
  RedisReply& reply = replies->front();
  if (reply.is_error() && ErrorCode(reply.str) == "CROSSSLOT") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("redis: the keys of one ", args.empty() ? "" : args[0],
                     " hash to different cluster slots: ", reply.str)));
  }
  if (reply.is_error()) {
    return Fail(absl::InternalError(absl::StrCat("redis error reply: ", reply.str)));
  }
  return std::move(reply);
}

absl::StatusOr<RedisReply> RedisClient::Eval(const std::string& script,
                                             const std::vector<std::string>& keys,
                                             const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"EVALSHA", ScriptSha(script), absl::StrCat(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<RedisReply> reply = Command(argv);
  if (!reply.ok() && absl::StrContains(reply.status().message(), "NOSCRIPT")) {
    argv[0] = "EVAL";
    argv[1] = script;
    reply = Command(argv);
  }
  return reply;
}

std::string RedisClient::ScriptSha(const std::string& script) {
  {
    absl::MutexLock lock(&sha_mu_);
    if (auto it = sha_of_.find(script); it != sha_of_.end()) return it->second;
  }
  std::string sha = Sha1Hex(script);
  absl::MutexLock lock(&sha_mu_);
  sha_of_.emplace(script, sha);
  return sha;
}

absl::Status LoadRedisPassword(RedisOptions* options) {
  absl::StatusOr<std::string> password =
      ReadSecret(options->password_file, "LEGWISE_REDIS_PASSWORD");
  if (!password.ok()) return password.status();
  options->password = *std::move(password);
  return absl::OkStatus();
}

absl::Status RedisClient::Ping() {
  absl::StatusOr<RedisReply> reply = Command({"PING"});
  if (!reply.ok()) return reply.status();
  if (reply->str != "PONG") return absl::UnavailableError("redis: unexpected PING reply");
  return absl::OkStatus();
}

// --- Redis Cluster ------------------------------------------------------------------------------

namespace redis_cluster {

uint16_t Crc16(absl::string_view data) {
  uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc ^= static_cast<uint16_t>(byte) << 8;
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

int KeySlot(absl::string_view key) {
  size_t open = key.find('{');
  if (open != absl::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != absl::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) % kSlots;
}

absl::StatusOr<std::vector<absl::string_view>> CommandKeys(const std::vector<std::string>& args) {
  std::vector<absl::string_view> keys;
  if (args.empty()) return absl::InvalidArgumentError("redis: empty command");
  const std::string name = absl::AsciiStrToUpper(args[0]);
  auto malformed = [&name] {
    return absl::InvalidArgumentError(absl::StrCat("redis: malformed ", name, " command"));
  };
  auto range = [&](size_t from, size_t to, size_t step) {
    for (size_t i = from; i < to && i < args.size(); i += step) keys.push_back(args[i]);
  };
  static const auto* const kKeyless = new absl::flat_hash_set<std::string>{
      "PING",     "ECHO",    "INFO",     "TIME",   "CLUSTER",      "SCRIPT",
      "COMMAND",  "AUTH",    "HELLO",    "CLIENT", "CONFIG",       "DBSIZE",
      "FLUSHALL", "FLUSHDB", "ROLE",     "ASKING", "READONLY",     "READWRITE",
      "MULTI",    "EXEC",    "DISCARD",  "SCAN",   "RANDOMKEY",    "SLOWLOG",
      "LASTSAVE", "WAIT",    "FUNCTION", "DEBUG",  "BGREWRITEAOF", "BGSAVE",
      "SAVE",     "MEMORY",  "LATENCY",  "QUIT",   "RESET",        "SELECT"};
  // Commands every argument of which (from the first) is a key.
  static const auto* const kAllKeys = new absl::flat_hash_set<std::string>{
      "DEL",    "UNLINK", "EXISTS",  "MGET",    "TOUCH",       "WATCH",       "SINTER",
      "SUNION", "SDIFF",  "PFCOUNT", "PFMERGE", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"};
  if (kKeyless->contains(name)) return keys;
  if (kAllKeys->contains(name)) {
    range(1, args.size(), 1);
  } else if (name == "MSET" || name == "MSETNX") {
    range(1, args.size(), 2);
  } else if (name == "RENAME" || name == "RENAMENX" || name == "RPOPLPUSH" || name == "LMOVE" ||
             name == "SMOVE" || name == "COPY") {
    range(1, 3, 1);
  } else if (name == "BLPOP" || name == "BRPOP" || name == "BZPOPMIN" || name == "BZPOPMAX") {
    range(1, args.size() - 1, 1);  // the last argument is the timeout
  } else if (name == "EVAL" || name == "EVALSHA" || name == "EVAL_RO" || name == "EVALSHA_RO" ||
             name == "FCALL" || name == "FCALL_RO") {
    int numkeys = 0;
    if (args.size() < 3 || !absl::SimpleAtoi(args[2], &numkeys) || numkeys < 0 ||
        static_cast<size_t>(numkeys) > args.size() - 3) {
      return malformed();
    }
    range(3, 3 + static_cast<size_t>(numkeys), 1);
  } else if (name == "XREAD" || name == "XREADGROUP") {
    size_t streams = 1;
    while (streams < args.size() && absl::AsciiStrToUpper(args[streams]) != "STREAMS") ++streams;
    const size_t rest = args.size() - std::min(args.size(), streams + 1);
    if (streams >= args.size() || rest == 0 || rest % 2 != 0) return malformed();
    range(streams + 1, streams + 1 + rest / 2, 1);
  } else if (name == "XGROUP" || name == "XINFO" || name == "OBJECT") {
    range(2, 3, 1);  // XGROUP CREATE <key> ..., XINFO STREAM <key>, OBJECT ENCODING <key>
  } else {
    range(1, 2, 1);  // GET, SET, HSET, ZADD, XADD, ...: the first argument is the key
  }
  return keys;
}

absl::StatusOr<int> CommandSlot(const std::vector<std::string>& args) {
  absl::StatusOr<std::vector<absl::string_view>> keys = CommandKeys(args);
  if (!keys.ok()) return keys.status();
  if (keys->empty()) return -1;
  const int slot = KeySlot(keys->front());
  for (absl::string_view key : *keys) {
    if (KeySlot(key) != slot) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis cluster: the keys of one ", absl::AsciiStrToUpper(args[0]),
                       " hash to different slots (put them under one {hash tag})"));
    }
  }
  return slot;
}

namespace {

// "host:port" with an empty or unknown host replaced by the host of `from`.
std::string NodeAddress(absl::string_view host, int64_t port, absl::string_view from) {
  if (host.empty() || host == "?") host = from.substr(0, from.rfind(':'));
  if (host.find(':') != absl::string_view::npos && host.front() != '[') {
    return absl::StrCat("[", host, "]:", port);  // IPv6 literal
  }
  return absl::StrCat(host, ":", port);
}

}  // namespace

std::optional<Redirect> ParseRedirect(absl::string_view error, absl::string_view from) {
  std::vector<absl::string_view> parts = absl::StrSplit(error, ' ', absl::SkipEmpty());
  if (parts.size() != 3 || (parts[0] != "MOVED" && parts[0] != "ASK")) return std::nullopt;
  Redirect r;
  r.ask = parts[0] == "ASK";
  if (!absl::SimpleAtoi(parts[1], &r.slot) || r.slot < 0 || r.slot >= kSlots) return std::nullopt;
  size_t colon = parts[2].rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(parts[2].substr(colon + 1), &port) ||
      port <= 0 || port > 65535) {
    return std::nullopt;
  }
  absl::string_view host = parts[2].substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  r.address = NodeAddress(host, port, from);
  return r;
}

absl::StatusOr<SlotMap> ParseClusterSlots(const RedisReply& reply, absl::string_view from) {
  auto bad = [] { return absl::InternalError("redis cluster: malformed CLUSTER SLOTS reply"); };
  if (reply.type != RedisReply::Type::kArray) return bad();
  SlotMap map;
  absl::flat_hash_map<std::string, int> index;
  for (const RedisReply& range : reply.elements) {
    if (range.elements.size() < 3 || range.elements[0].type != RedisReply::Type::kInteger ||
        range.elements[1].type != RedisReply::Type::kInteger) {
      return bad();
    }
    const int64_t first = range.elements[0].integer, last = range.elements[1].integer;
    const RedisReply& master = range.elements[2];
    if (first < 0 || last >= kSlots || first > last || master.elements.size() < 2 ||
        master.elements[1].type != RedisReply::Type::kInteger) {
      return bad();
    }
    std::string address = NodeAddress(master.elements[0].is_nil() ? "" : master.elements[0].str,
                                      master.elements[1].integer, from);
    auto [it, added] = index.emplace(address, static_cast<int>(map.masters.size()));
    if (added) map.masters.push_back(address);
    for (int64_t s = first; s <= last; ++s) map.owner[s] = it->second;
  }
  if (map.masters.empty()) return absl::UnavailableError("redis cluster: no slot is served");
  return map;
}

}  // namespace redis_cluster

absl::Status RedisClient::RefreshSlots(bool force) {
  // A map read this recently is as good as a new one (many callers see one MOVED at once).
  constexpr absl::Duration kMinInterval = absl::Milliseconds(20);
  std::vector<std::string> candidates;
  {
    absl::MutexLock lock(&slots_mu_);
    const absl::Duration age = absl::Now() - slots_read_at_;
    if (!masters_.empty() && !slots_stale_ && age < options_.slots_refresh_interval && !force) {
      return absl::OkStatus();
    }
    if (!masters_.empty() && age < kMinInterval) return absl::OkStatus();
  }
  if (!refresh_mu_.TryLock()) {
    {
      absl::MutexLock lock(&slots_mu_);
      if (!masters_.empty()) return absl::OkStatus();  // someone is refreshing; use the old map
    }
    refresh_mu_.Lock();  // no map yet: wait for the one being read
    absl::MutexLock lock(&slots_mu_);
    if (!masters_.empty()) {
      refresh_mu_.Unlock();
      return absl::OkStatus();
    }
  }
  {
    absl::MutexLock lock(&slots_mu_);
    candidates = masters_;
  }
  // The masters we know, then the seeds (a seed may be all that is left after a big change).
  candidates.insert(candidates.end(), seeds_.begin(), seeds_.end());
  absl::Status last = absl::UnavailableError("redis cluster: no node to ask for the slot map");
  const std::vector<std::string> cmd = {"CLUSTER", "SLOTS"};
  for (const std::string& address : candidates) {
    bool sent = false;
    absl::StatusOr<std::vector<RedisReply>> reply = Send(PoolFor(address), {&cmd}, {}, &sent);
    if (!reply.ok()) {
      last = reply.status();
      continue;
    }
    if (reply->front().is_error()) {
      last = absl::UnavailableError(absl::StrCat("redis cluster: ", address,
                                                 " answered CLUSTER SLOTS with ",
                                                 ErrorCode(reply->front().str)));
      continue;
    }
    absl::StatusOr<redis_cluster::SlotMap> map =
        redis_cluster::ParseClusterSlots(reply->front(), address);
    if (!map.ok()) {
      last = map.status();
      continue;
    }
    absl::MutexLock lock(&slots_mu_);
    masters_ = std::move(map->masters);
    slot_owner_ = std::move(map->owner);
    slots_stale_ = false;
    slots_read_at_ = absl::Now();
    refresh_mu_.Unlock();
    return absl::OkStatus();
  }
  {
    absl::MutexLock lock(&slots_mu_);
    slots_read_at_ = absl::Now();  // do not hammer the nodes: the next try waits kMinInterval
  }
  refresh_mu_.Unlock();
  return last;
}

// One command of a cluster pipeline: where it goes next and whether it needs ASKING first.
struct RedisClient::Routed {
  size_t index = 0;  // in the caller's commands
  int slot = -1;     // -1: keyless, any master
  std::string ask;   // the node an ASK redirection named, for the next attempt only
};

absl::StatusOr<std::vector<RedisReply>> RedisClient::ClusterPipeline(
    const std::vector<std::vector<std::string>>& commands) {
  const absl::Time deadline = absl::Now() + options_.command_timeout;
  // Redirections one command may follow; more means the cluster is changing faster than we read.
  constexpr int kMaxAttempts = 16;
  constexpr absl::Duration kFirstBackoff = absl::Milliseconds(5);
  constexpr absl::Duration kMaxBackoff = absl::Milliseconds(100);

  std::vector<Routed> pending(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    absl::StatusOr<int> slot = redis_cluster::CommandSlot(commands[i]);
    if (!slot.ok()) return Fail(slot.status());
    pending[i].index = i;
    pending[i].slot = *slot;
  }
  std::vector<RedisReply> replies(commands.size());
  absl::Duration backoff = kFirstBackoff;
  absl::Status last = absl::UnavailableError("redis cluster: no route");
  for (int attempt = 0; !pending.empty(); ++attempt) {
    if (attempt > 0) {
      if (attempt >= kMaxAttempts || absl::Now() + backoff > deadline) {
        return Fail(absl::UnavailableError(
            absl::StrCat(last.message(), " (still after ", attempt, " attempts)")));
      }
    }
    if (absl::Status s = RefreshSlots(/*force=*/false); !s.ok()) {
      last = s;
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    // Group by node, keeping each node's commands in the caller's order.
    std::vector<std::pair<std::string, std::vector<Routed>>> groups;
    {
      absl::ReaderMutexLock lock(&slots_mu_);
      for (Routed& r : pending) {
        std::string address = r.ask;
        if (address.empty()) {
          const int owner = r.slot < 0 ? 0 : slot_owner_[r.slot];
          if (owner < 0) {
            last = absl::UnavailableError(
                absl::StrCat("redis cluster: slot ", r.slot, " is served by no master"));
            address = masters_.front();  // it will answer MOVED or CLUSTERDOWN
          } else {
            address = masters_[owner];
          }
        }
        auto it = std::find_if(groups.begin(), groups.end(),
                               [&](const auto& g) { return g.first == address; });
        if (it == groups.end()) it = groups.insert(groups.end(), {address, {}});
        it->second.push_back(std::move(r));
      }
    }
    std::vector<Routed> retry;
    bool wait = false;  // a retry that must not come at once (TRYAGAIN, CLUSTERDOWN, node down)
    for (auto& [address, group] : groups) {
      std::vector<const std::vector<std::string>*> cmds;
      std::vector<bool> asking;
      for (const Routed& r : group) {
        cmds.push_back(&commands[r.index]);
        asking.push_back(!r.ask.empty());
      }
      bool sent = false;
      absl::StatusOr<std::vector<RedisReply>> got = Send(PoolFor(address), cmds, asking, &sent);
      if (!got.ok()) {
        {
          absl::MutexLock lock(&slots_mu_);
          slots_stale_ = true;  // the node may have failed over
        }
        // A command that may have run must not run twice: only one that never left is retried.
        if (sent || got.status().code() != absl::StatusCode::kUnavailable)
          return Fail(got.status());
        last = got.status();
        wait = true;
        for (Routed& r : group) {
          r.ask.clear();
          retry.push_back(std::move(r));
        }
        continue;
      }
      for (size_t k = 0; k < group.size(); ++k) {
        Routed& r = group[k];
        RedisReply& reply = (*got)[k];
        r.ask.clear();
        if (reply.is_error()) {
          const absl::string_view code = ErrorCode(reply.str);
          if (code == "MOVED" || code == "ASK") {
            std::optional<redis_cluster::Redirect> to =
                redis_cluster::ParseRedirect(reply.str, address);
            if (to.has_value()) {
              Metrics::Default().Increment("legwise_redis_cluster_redirects_total",
                                           {{"kind", to->ask ? "ask" : "moved"}});
              last = absl::UnavailableError(absl::StrCat("redis cluster: ", reply.str));
              if (to->ask) {
                r.ask = to->address;
              } else {
                // The spec's advice: fix this slot now, and re-read the whole map soon.
                absl::MutexLock lock(&slots_mu_);
                auto m = std::find(masters_.begin(), masters_.end(), to->address);
                if (m == masters_.end()) m = masters_.insert(masters_.end(), to->address);
                slot_owner_[to->slot] = static_cast<int>(m - masters_.begin());
                slots_stale_ = true;
              }
              retry.push_back(std::move(r));
              continue;
            }
          } else if (code == "TRYAGAIN" || code == "CLUSTERDOWN") {
            Metrics::Default().Increment(
                "legwise_redis_cluster_redirects_total",
                {{"kind", code == "TRYAGAIN" ? "tryagain" : "clusterdown"}});
            last = absl::UnavailableError(
                absl::StrCat("redis cluster ", address, " cannot serve now (", code, "); retry"));
            if (code == "CLUSTERDOWN") {
              absl::MutexLock lock(&slots_mu_);
              slots_stale_ = true;
            }
            wait = true;
            retry.push_back(std::move(r));
            continue;
          }
        }
        replies[r.index] = std::move(reply);
      }
    }
    pending = std::move(retry);
    if (!pending.empty() && wait) {
      absl::SleepFor(std::min(backoff, std::max(absl::ZeroDuration(), deadline - absl::Now())));
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }
  if (absl::Status s = TransientReplyStatus(replies, "cluster"); !s.ok()) return Fail(s);
  last_ok_.store(true, std::memory_order_relaxed);
  return replies;
}

namespace {

// SHA-1 (FIPS 180-4) of the script text, as Redis names scripts for EVALSHA. Small and
// self-contained so the client needs no crypto library.
std::string Sha1Hex(const std::string& script) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string msg = script;
  uint64_t bit_len = static_cast<uint64_t>(msg.size()) * 8;
  msg += static_cast<char>(0x80);
  while (msg.size() % 64 != 56) msg += static_cast<char>(0);
  for (int i = 7; i >= 0; --i) msg += static_cast<char>((bit_len >> (i * 8)) & 0xff);
  auto rotl = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (size_t chunk = 0; chunk < msg.size(); chunk += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      w[i] = (static_cast<uint32_t>(static_cast<unsigned char>(msg[chunk + 4 * i])) << 24) |
             (static_cast<uint32_t>(static_cast<unsigned char>(msg[chunk + 4 * i + 1])) << 16) |
             (static_cast<uint32_t>(static_cast<unsigned char>(msg[chunk + 4 * i + 2])) << 8) |
             static_cast<uint32_t>(static_cast<unsigned char>(msg[chunk + 4 * i + 3]));
    }
    for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      uint32_t t = rotl(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (uint32_t v : h) {
    for (int i = 7; i >= 0; --i) out += kHex[(v >> (i * 4)) & 0xf];
  }
  return out;
}

}  // namespace
}  // namespace legwise
