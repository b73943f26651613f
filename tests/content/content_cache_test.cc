// The content cache without a network: L1, single-flight, negative caching, TTL jitter and
// degradation, against the in-memory remote store.
#include "services/content/content_cache.h"

#include <atomic>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace legwise::content {
namespace {

ContentCache::Render Renders(std::string value, std::atomic<int>* count, bool negative = false) {
  return [value, count, negative]() -> absl::StatusOr<Rendered> {
    count->fetch_add(1);
    return Rendered{value, negative};
  };
}

TEST(ContentCacheTest, MissThenL1Hit) {
  InMemoryRemoteStore store;
  ContentCache cache(ContentCacheOptions{}, &store);
  std::atomic<int> renders{0};
  auto a = cache.GetSync("v1:k", Renders("body", &renders));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(**a, "body");
  auto b = cache.GetSync("v1:k", Renders("other", &renders));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(**b, "body");
  EXPECT_EQ(renders.load(), 1);
  EXPECT_EQ(store.round_trips(), 1u);
  ContentCacheStats s = cache.stats();
  EXPECT_EQ(s.remote_misses, 1u);
  EXPECT_EQ(s.l1_hits, 1u);
  ASSERT_TRUE(store.Peek("legwise:content:v1:k").has_value());
  EXPECT_EQ(store.Peek("legwise:content:v1:k")->first, "body");
}

TEST(ContentCacheTest, WhatTheRemoteStoreHoldsIsServed) {
  InMemoryRemoteStore store;
  store.Put("legwise:content:v1:k", "from-remote", absl::Hours(1));
  ContentCache cache(ContentCacheOptions{}, &store);
  std::atomic<int> renders{0};
  auto r = cache.GetSync("v1:k", Renders("mine", &renders));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, "from-remote");
  EXPECT_EQ(cache.stats().remote_hits, 1u);
}

TEST(ContentCacheTest, InvalidRemoteValueIsNeverServed) {
  InMemoryRemoteStore store;
  store.Put("legwise:content:v1:k", "garbage", absl::Hours(1));
  ContentCache cache(ContentCacheOptions{}, &store);
  std::atomic<int> renders{0};
  auto r = cache.GetSync("v1:k", Renders("good", &renders),
                         [](const std::string& v) { return v != "garbage"; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, "good");
  EXPECT_EQ(cache.stats().remote_invalid, 1u);
  EXPECT_EQ(cache.stats().remote_hits, 0u);
}

TEST(ContentCacheTest, NegativeAnswersGetTheShortTtlAndPositiveOnesJitter) {
  InMemoryRemoteStore store;
  ContentCacheOptions o;
  o.ttl = absl::Hours(1);
  o.ttl_jitter = 0.1;
  o.negative_ttl = absl::Minutes(5);
  ContentCache cache(o, &store);
  std::atomic<int> renders{0};
  ASSERT_TRUE(cache.GetSync("v1:neg", Renders("", &renders, /*negative=*/true)).ok());
  ASSERT_TRUE(cache.GetSync("v1:pos", Renders("x", &renders)).ok());
  EXPECT_EQ(store.Peek("legwise:content:v1:neg")->second, absl::Minutes(5));
  EXPECT_EQ(cache.stats().negative_stored, 1u);
  // Property: every positive TTL lies within +/-10% of the TTL, and they are spread out.
  std::set<int64_t> distinct;
  for (int i = 0; i < 1000; ++i) {
    absl::Duration t = cache.TtlFor(false);
    EXPECT_GE(t, absl::Minutes(54));
    EXPECT_LE(t, absl::Minutes(66));
    distinct.insert(absl::ToInt64Seconds(t));
  }
  EXPECT_GT(distinct.size(), 100u);
  EXPECT_EQ(cache.TtlFor(true), absl::Minutes(5));
}

TEST(ContentCacheTest, L1IsBoundedLru) {
  ContentCacheOptions o;
  o.l1_capacity = 3;
  ContentCache cache(o, nullptr);
  std::atomic<int> renders{0};
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(cache.GetSync(k, Renders(k, &renders)).ok());
  ASSERT_TRUE(cache.GetSync("a", Renders("a", &renders)).ok());  // a is now most recent
  ASSERT_TRUE(cache.GetSync("d", Renders("d", &renders)).ok());  // evicts b
  EXPECT_EQ(cache.stats().l1_entries, 3u);
  EXPECT_EQ(renders.load(), 4);
  ASSERT_TRUE(cache.GetSync("a", Renders("a", &renders)).ok());
  EXPECT_EQ(renders.load(), 4);
  ASSERT_TRUE(cache.GetSync("b", Renders("b", &renders)).ok());
  EXPECT_EQ(renders.load(), 5);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(cache.GetSync(std::to_string(i), Renders("x", &renders)).ok());
    EXPECT_LE(cache.stats().l1_entries, 3u);
  }
  cache.ClearL1();
  EXPECT_EQ(cache.stats().l1_entries, 0u);
}

// A store that holds the first call until told to go, so a test can pile up concurrent callers.
class GatedStore : public InMemoryRemoteStore {
 public:
  absl::StatusOr<absl::optional<std::string>> GetOrSet(const std::string& key,
                                                       const std::string& value,
                                                       absl::Duration ttl) override {
    entered.Notify();
    go.WaitForNotification();
    return InMemoryRemoteStore::GetOrSet(key, value, ttl);
  }
  absl::Notification entered, go;
};

TEST(ContentCacheTest, SingleFlightOneRoundTripAndOneRenderFor1000ConcurrentMisses) {
  GatedStore store;
  ContentCache cache(ContentCacheOptions{}, &store);
  std::atomic<int> renders{0};
  constexpr int kCallers = 1000;
  std::atomic<int> done{0};
  std::vector<std::string> results(kCallers);
  std::latch start(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      cache.Get("v1:burst", Renders("body", &renders), [&, i](ContentCache::Result r) {
        results[i] = r.ok() ? **r : "error";
        done.fetch_add(1);
      });
    });
  }
  // The leader is inside the store; wait until every other caller has joined its flight.
  store.entered.WaitForNotification();
  while (cache.stats().coalesced < kCallers - 1) std::this_thread::yield();
  store.go.Notify();
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), kCallers);
  EXPECT_EQ(renders.load(), 1);
  EXPECT_EQ(store.round_trips(), 1u);
  for (const std::string& r : results) EXPECT_EQ(r, "body");
}

TEST(ContentCacheTest, RemoteFailureDegradesButNeverFailsARequest) {
  InMemoryRemoteStore store;
  ContentCacheOptions o;
  o.l1_capacity = 0;  // every call reaches the remote tier
  o.remote_retry_interval = absl::Milliseconds(200);
  ContentCache cache(o, &store);
  std::atomic<int> renders{0};
  store.SetFailure(absl::UnavailableError("redis down"));
  auto r = cache.GetSync("v1:k", Renders("body", &renders));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, "body");
  EXPECT_TRUE(cache.degraded());
  EXPECT_EQ(cache.stats().remote_errors, 1u);
  // While degraded the remote store is skipped: no more round trips, answers still come.
  const uint64_t trips = store.round_trips();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(cache.GetSync("v1:k", Renders("body", &renders)).ok());
  EXPECT_EQ(store.round_trips(), trips);
  EXPECT_EQ(cache.stats().remote_skipped, 20u);
  // Back up: after the retry interval the next call reaches the store and clears the state.
  store.SetFailure(absl::OkStatus());
  while (cache.degraded()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(cache.GetSync("v1:k", Renders("body", &renders)).ok());
  EXPECT_EQ(store.round_trips(), trips + 1);
  EXPECT_FALSE(cache.degraded());
  EXPECT_EQ(cache.stats().remote_misses, 1u);
}

TEST(ContentCacheTest, RenderErrorsReachEveryCallerAndAreNotCached) {
  InMemoryRemoteStore store;
  ContentCache cache(ContentCacheOptions{}, &store);
  int calls = 0;
  auto failing = [&calls]() -> absl::StatusOr<Rendered> {
    ++calls;
    return absl::NotFoundError("no such topic");
  };
  EXPECT_EQ(cache.GetSync("v1:k", failing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.GetSync("v1:k", failing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(store.round_trips(), 0u);
  EXPECT_EQ(cache.stats().l1_entries, 0u);
}

}  // namespace
}  // namespace legwise::content
