#include "services/content/content_cache.h"

#include <algorithm>

#include "absl/synchronization/notification.h"

namespace legwise::content {
namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

ContentCache::ContentCache(ContentCacheOptions options, RemoteStore* remote)
    : options_(std::move(options)),
      remote_(remote),
      rng_state_(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {}

CachedBytes ContentCache::L1Find(const std::string& key) {
  auto it = l1_.find(key);
  if (it == l1_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void ContentCache::L1Put(const std::string& key, CachedBytes value) {
  if (options_.l1_capacity == 0) return;
  auto it = l1_.find(key);
  if (it != l1_.end()) {
    it->second->value = std::move(value);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(L1Entry{key, std::move(value)});
  l1_[key] = lru_.begin();
  while (lru_.size() > options_.l1_capacity) {
    l1_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

absl::Duration ContentCache::TtlFor(bool negative) {
  if (negative) return options_.negative_ttl;
  double jitter = 0;
  if (options_.ttl_jitter > 0) {
    absl::MutexLock lock(&mu_);
    // Uniform in [-jitter, +jitter].
    double u = static_cast<double>(SplitMix64(&rng_state_) >> 11) / static_cast<double>(1ull << 53);
    jitter = (2 * u - 1) * options_.ttl_jitter;
  }
  return std::max(absl::Seconds(1), options_.ttl * (1 + jitter));
}

ContentCache::Result ContentCache::Lead(const std::string& key, const Render& render,
                                        const Validate& validate) {
  absl::StatusOr<Rendered> rendered = render();
  {
    absl::MutexLock lock(&mu_);
    ++stats_.renders;
  }
  if (!rendered.ok()) return rendered.status();
  auto mine = std::make_shared<const std::string>(std::move(rendered->bytes));
  if (remote_ == nullptr) return mine;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Now() < remote_skip_until_) {
      ++stats_.remote_skipped;
      return mine;
    }
  }
  const bool negative = rendered->negative;
  absl::StatusOr<absl::optional<std::string>> stored =
      remote_->GetOrSet(options_.key_prefix + key, *mine, TtlFor(negative));
  absl::MutexLock lock(&mu_);
  if (!stored.ok()) {
    // Degrade: answer from the catalog and leave the remote store alone for a while.
    ++stats_.remote_errors;
    remote_skip_until_ = absl::Now() + options_.remote_retry_interval;
    return mine;
  }
  remote_skip_until_ = absl::InfinitePast();
  if (stored->has_value() && validate != nullptr && !validate(**stored)) {
    ++stats_.remote_invalid;
    return mine;
  }
  if (stored->has_value()) {
    ++stats_.remote_hits;
    return std::make_shared<const std::string>(std::move(**stored));
  }
  ++stats_.remote_misses;
  if (negative) ++stats_.negative_stored;
  return mine;
}

void ContentCache::Get(const std::string& key, Render render, Done done, Validate validate) {
  std::shared_ptr<Flight> flight;
  CachedBytes hit;
  {
    absl::MutexLock lock(&mu_);
    hit = L1Find(key);
    if (hit != nullptr) {
      ++stats_.l1_hits;
    } else if (auto it = flights_.find(key); it != flights_.end()) {
      // Someone is already fetching this key: wait for their answer without blocking.
      ++stats_.coalesced;
      it->second->waiters.push_back(std::move(done));
      return;
    } else {
      flight = std::make_shared<Flight>();
      flights_.emplace(key, flight);
    }
  }
  if (hit != nullptr) {
    done(std::move(hit));
    return;
  }
  Result result = Lead(key, render, validate);
  std::vector<Done> waiters;
  {
    absl::MutexLock lock(&mu_);
    waiters = std::move(flight->waiters);
    flights_.erase(key);
    if (result.ok()) L1Put(key, *result);
  }
  for (Done& w : waiters) w(result);
  done(std::move(result));
}

ContentCache::Result ContentCache::GetSync(const std::string& key, Render render,
                                           Validate validate) {
  absl::Notification ready;
  Result out = absl::UnknownError("not run");
  Get(
      key, std::move(render),
      [&](Result r) {
        out = std::move(r);
        ready.Notify();
      },
      std::move(validate));
  ready.WaitForNotification();
  return out;
}

void ContentCache::ClearL1() {
  absl::MutexLock lock(&mu_);
  l1_.clear();
  lru_.clear();
}

bool ContentCache::degraded() const {
  absl::MutexLock lock(&mu_);
  return remote_ != nullptr && absl::Now() < remote_skip_until_;
}

ContentCacheStats ContentCache::stats() const {
  absl::MutexLock lock(&mu_);
  ContentCacheStats s = stats_;
  s.l1_entries = lru_.size();
  return s;
}

absl::StatusOr<absl::optional<std::string>> InMemoryRemoteStore::GetOrSet(const std::string& key,
                                                                          const std::string& value,
                                                                          absl::Duration ttl) {
  round_trips_.fetch_add(1);
  absl::MutexLock lock(&mu_);
  if (!failure_.ok()) return failure_;
  auto it = data_.find(key);
  if (it != data_.end()) return absl::optional<std::string>(it->second.first);
  data_[key] = {value, ttl};
  return absl::optional<std::string>();
}

void InMemoryRemoteStore::SetFailure(absl::Status status) {
  absl::MutexLock lock(&mu_);
  failure_ = std::move(status);
}

absl::optional<std::pair<std::string, absl::Duration>> InMemoryRemoteStore::Peek(
    const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = data_.find(key);
  if (it == data_.end()) return absl::nullopt;
  return it->second;
}

void InMemoryRemoteStore::Put(const std::string& key, std::string value, absl::Duration ttl) {
  absl::MutexLock lock(&mu_);
  data_[key] = {std::move(value), ttl};
}

}  // namespace legwise::content
