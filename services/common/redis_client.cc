#include "services/common/redis_client.h"

#include <hiredis/hiredis.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

void RedisClient::ContextDeleter::operator()(redisContext* c) const {
  if (c != nullptr) redisFree(c);
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

RedisClient::RedisClient(RedisOptions options) : options_(std::move(options)) {
  size_t colon = options_.address.rfind(':');
  host_ = options_.address.substr(0, colon);
  if (!host_.empty() && host_.front() == '[') host_ = host_.substr(1, host_.size() - 2);
  if (colon == std::string::npos || !absl::SimpleAtoi(options_.address.substr(colon + 1), &port_)) {
    port_ = 0;  // every call will fail with a clear INVALID_ARGUMENT-derived message
  }
  if (options_.pool_size < 1) options_.pool_size = 1;
  Metrics::Default().Describe("legwise_redis_errors_total", "counter",
                              "Redis calls that failed, by kind (unavailable, reply).");
  Metrics::Default().Describe("legwise_redis_calls_total", "counter",
                              "Redis round trips attempted.");
  Metrics::Default().Describe("legwise_redis_call_duration_seconds", "histogram",
                              "Latency of Redis round trips (one pipeline each) that got replies.");
}

RedisClient::~RedisClient() = default;

absl::StatusOr<RedisClient::ContextPtr> RedisClient::Connect() {
  if (port_ == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis address '", options_.address, "' is not host:port"));
  }
  ContextPtr c(redisConnectWithTimeout(host_.c_str(), port_, ToTv(options_.connect_timeout)));
  if (c == nullptr) return absl::UnavailableError("redis: out of memory creating a context");
  if (c->err) {
    return absl::UnavailableError(
        absl::StrCat("redis ", options_.address, " unreachable: ", c->errstr));
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

absl::StatusOr<RedisClient::ContextPtr> RedisClient::Acquire() {
  absl::Time deadline = absl::Now() + options_.command_timeout;
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
            absl::StrCat("redis ", options_.address, " is down (recent connect failed)"));
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

void RedisClient::Release(ContextPtr context, bool healthy) {
  absl::MutexLock lock(&mu_);
  if (healthy) {
    idle_.push_back(std::move(context));
    return;
  }
  // The connection broke: the server probably restarted or the network failed, so the idle ones are
  // most likely dead too. Drop them all; the next calls open fresh connections.
  --open_;
  open_ -= static_cast<int>(idle_.size());
  idle_.clear();
}

absl::Status RedisClient::Fail(absl::Status status) {
  last_ok_.store(false, std::memory_order_relaxed);
  Metrics::Default().Increment(
      "legwise_redis_errors_total",
      {{"kind", status.code() == absl::StatusCode::kUnavailable ? "unavailable" : "reply"}});
  return status;
}

absl::StatusOr<std::vector<RedisReply>> RedisClient::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  absl::StatusOr<ContextPtr> c = Acquire();
  if (!c.ok()) return Fail(c.status());
  round_trips_.fetch_add(1, std::memory_order_relaxed);
  Metrics::Default().Increment("legwise_redis_calls_total");
  const absl::Time started = absl::Now();
  redisContext* ctx = c->get();
  for (const auto& args : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> argvlen;
    argv.reserve(args.size());
    argvlen.reserve(args.size());
    for (const std::string& a : args) {
      argv.push_back(a.data());
      argvlen.push_back(a.size());
    }
    redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), argvlen.data());
  }
  std::vector<RedisReply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx, &raw) != REDIS_OK || raw == nullptr) {
      std::string err = ctx->err ? ctx->errstr : "no reply";
      if (ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) err = "timed out";
      Release(std::move(*c), /*healthy=*/false);
      return Fail(absl::UnavailableError(absl::StrCat("redis ", options_.address, ": ", err)));
    }
    replies.push_back(CopyReply(raw));
    freeReplyObject(raw);
  }
  Release(std::move(*c), /*healthy=*/true);
  Metrics::Default().Observe("legwise_redis_call_duration_seconds", {},
                             absl::ToDoubleSeconds(absl::Now() - started));
  // A server that is loading its data, running a long script, or a replica cut off from its
  // master answers every command so: it is unavailable for now, not wrong.
  for (const RedisReply& reply : replies) {
    if (reply.is_error() && IsTransientRedisError(reply.str)) {
      return Fail(absl::UnavailableError(
          absl::StrCat("redis ", options_.address, " cannot serve now (",
                       reply.str.substr(0, reply.str.find(' ')), "); retry")));
    }
  }
  last_ok_.store(true, std::memory_order_relaxed);
  return replies;
}

absl::StatusOr<RedisReply> RedisClient::Command(const std::vector<std::string>& args) {
  absl::StatusOr<std::vector<RedisReply>> replies = Pipeline({args});
  if (!replies.ok()) return replies.status();
  RedisReply& reply = replies->front();
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
