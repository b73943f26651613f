// The content service's cache of rendered answers (cache-aside in front of the catalog):
//   1. a bounded in-process LRU (L1) of serialized answers;
//   2. a shared remote store (Redis) whose keys carry the catalog version, so a reload never serves
//      a stale body and old keys simply expire;
//   3. single-flight: concurrent identical misses wait for one leader, which renders once and makes
//      one remote round trip (SET NX GET: "store mine unless someone already stored one, and give
//      me theirs"), then completes every waiter;
//   4. negative caching: an answer the renderer marks negative (an unknown code) is cached with a
//      shorter TTL;
//   5. graceful degradation: when the remote store fails or is slow (short timeout), answers come
//      straight from the renderer, the cache reports itself degraded, and it skips the remote store
//      for `remote_retry_interval` before trying again, so no request fails and none waits on a
//      dead Redis.
// Free of gRPC; the remote store is an interface with a Redis and an in-memory implementation.
#ifndef LEGWISE_SERVICES_CONTENT_CONTENT_CACHE_H_
#define LEGWISE_SERVICES_CONTENT_CONTENT_CACHE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace legwise::content {

// A shared key-value store for rendered answers.
class RemoteStore {
 public:
  virtual ~RemoteStore() = default;
  // In ONE round trip: when `key` holds a value, returns it and leaves it; otherwise stores `value`
  // with `ttl` and returns nullopt. Errors (down, timeout) are returned, never thrown.
  virtual absl::StatusOr<absl::optional<std::string>> GetOrSet(const std::string& key,
                                                               const std::string& value,
                                                               absl::Duration ttl) = 0;
  // Round trips made so far (for tests and benchmarks).
  virtual uint64_t round_trips() const = 0;
};

// What a renderer produces: the serialized answer, and whether it is negative (nothing found).
struct Rendered {
  std::string bytes;
  bool negative = false;
};

// One cached answer, shared by every caller that gets it.
using CachedBytes = std::shared_ptr<const std::string>;

struct ContentCacheOptions {
  // Most answers kept in L1 (0 disables L1).
  size_t l1_capacity = 4096;
  // Remote TTL of a positive answer, and the +/- fraction of random jitter applied to it so keys
  // written together do not expire together.
  absl::Duration ttl = absl::Hours(1);
  double ttl_jitter = 0.1;
  // Remote TTL of a negative answer.
  absl::Duration negative_ttl = absl::Minutes(5);
  // After a remote failure, the remote store is skipped for this long.
  absl::Duration remote_retry_interval = absl::Seconds(1);
  // Prefix of every remote key; the caller appends the catalog version and the request key.
  std::string key_prefix = "legwise:content:";
};

// Counters, for metrics and tests.
struct ContentCacheStats {
  uint64_t l1_hits = 0;
  uint64_t remote_hits = 0;    // the remote store already held the answer
  uint64_t remote_misses = 0;  // the remote store did not: ours was stored
  uint64_t remote_errors = 0;
  uint64_t remote_invalid = 0;  // the remote value failed validation; ours was served
  uint64_t remote_skipped = 0;  // degraded: remote store not tried
  uint64_t renders = 0;
  uint64_t coalesced = 0;  // callers that waited for another caller's flight
  uint64_t negative_stored = 0;
  size_t l1_entries = 0;
};

class ContentCache {
 public:
  // Result delivered to a caller.
  using Result = absl::StatusOr<CachedBytes>;
  using Done = std::function<void(Result)>;
  using Render = std::function<absl::StatusOr<Rendered>()>;
  // Checks bytes that came from the remote store (e.g. that they parse as the answer type), so a
  // corrupt or foreign value is never served. Optional.
  using Validate = std::function<bool(const std::string&)>;

  // `remote` may be null (L1 and single-flight only). It must outlive the cache.
  ContentCache(ContentCacheOptions options, RemoteStore* remote);

  // Answers `key` (already versioned by the caller) from L1, the remote store, or `render`, and
  // calls `done` exactly once: on this thread for an L1 hit or when this caller leads the flight,
  // on the leader's thread when it waits for another caller's flight. Never blocks on another
  // caller. A render error is passed to every waiter and nothing is cached.
  // A remote value that fails `validate` is ignored (counted as remote_invalid) and ours is served.
  void Get(const std::string& key, Render render, Done done, Validate validate = nullptr);

  // Blocking convenience wrapper around Get (tests, benchmarks).
  Result GetSync(const std::string& key, Render render, Validate validate = nullptr);

  // Drops every L1 entry (after a catalog reload; remote keys are versioned and just expire).
  void ClearL1();

  // True while the remote store is being skipped after a failure.
  bool degraded() const;

  ContentCacheStats stats() const;

  const ContentCacheOptions& options() const { return options_; }

  // The TTL to use for one store: ttl +/- jitter for positive answers, negative_ttl otherwise.
  absl::Duration TtlFor(bool negative);

 private:
  struct Flight {
    std::vector<Done> waiters;
  };
  struct L1Entry {
    std::string key;
    CachedBytes value;
  };

  CachedBytes L1Find(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void L1Put(const std::string& key, CachedBytes value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Result Lead(const std::string& key, const Render& render, const Validate& validate);

  const ContentCacheOptions options_;
  RemoteStore* const remote_;

  mutable absl::Mutex mu_;
  std::list<L1Entry> lru_ ABSL_GUARDED_BY(mu_);  // front = most recent
  absl::flat_hash_map<std::string, std::list<L1Entry>::iterator> l1_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
  absl::Time remote_skip_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t rng_state_ ABSL_GUARDED_BY(mu_);
  ContentCacheStats stats_ ABSL_GUARDED_BY(mu_);
};

// An in-process RemoteStore for tests: a map with TTLs and an injectable failure.
class InMemoryRemoteStore : public RemoteStore {
 public:
  absl::StatusOr<absl::optional<std::string>> GetOrSet(const std::string& key,
                                                       const std::string& value,
                                                       absl::Duration ttl) override;
  uint64_t round_trips() const override { return round_trips_.load(); }
  // While set, every call fails with this status.
  void SetFailure(absl::Status status);
  // The stored value and TTL of `key`, if any.
  absl::optional<std::pair<std::string, absl::Duration>> Peek(const std::string& key) const;
  // Replaces a stored value (tests prove that what the store holds is what gets served).
  void Put(const std::string& key, std::string value, absl::Duration ttl);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::pair<std::string, absl::Duration>> data_
      ABSL_GUARDED_BY(mu_);
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> round_trips_{0};
};

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CONTENT_CACHE_H_
