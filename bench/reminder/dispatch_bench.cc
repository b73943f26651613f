// Dispatch benchmarks on a real redis-server (AOF everysec, as deployed), with 1 and 3 dispatcher
// replicas (in-process Dispatcher objects, each with its own Redis connection pool, as separate
// replicas would have):
//  - BM_DispatchThroughput: N occurrences already due (scheduled then made due at once); time until
//    every one is in the outbox. items_per_second = occurrences dispatched per second.
//  - BM_DueToPublishedLag: occurrences due at a steady rate (default 10,000/s) for a while; lag =
//    outbox publish time - due time (both on the Redis clock), p50/p99.
// Sizes: LEGWISE_BENCH_OCCURRENCES (default 1000000), LEGWISE_BENCH_LAG_RATE (default 10000 per
// second), LEGWISE_BENCH_LAG_SECONDS (default 20). Every run checks that each occurrence was
// published exactly once.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/redis_client.h"
#include "services/reminder/delivery/dispatcher.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/store/redis_store.h"
#include "tests/support/process.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

int EnvInt(const char* name, int def) {
  const char* v = std::getenv(name);
  int out = def;
  if (v != nullptr && absl::SimpleAtoi(v, &out)) return out;
  return def;
}

std::shared_ptr<RedisClient> Client(const std::string& address) {
  RedisOptions o;
  o.address = address;
  o.command_timeout = absl::Seconds(10);
  return std::make_shared<RedisClient>(o);
}

// Schedules `n` occurrences (100 per user) with due times from `due_of(i)`.
template <typename DueFn>
void Prefill(RedisReminderStore& store, int n, DueFn due_of) {
  constexpr int kPerUser = 100;
  for (int start = 0; start < n; start += kPerUser) {
    const std::string user = absl::StrCat("bench-", start / kPerUser);
    std::vector<ScheduledNudge> batch;
    for (int i = start; i < std::min(n, start + kPerUser); ++i) {
      const absl::Time due = due_of(i);
      v1::Nudge nudge;
      const std::string id =
          MakeNudgeId(user, NudgeKind::kHydration, absl::CivilDay(2026, 1, 1), i - start);
      nudge.set_nudge_id(id);
      nudge.set_user_id(user);
      nudge.set_kind(v1::NUDGE_KIND_HYDRATION);
      nudge.mutable_due_time()->set_seconds(absl::ToUnixSeconds(due));
      nudge.set_local_time(FormatLocalTime(due, absl::UTCTimeZone()));
      nudge.set_locale("en");
      batch.push_back({id, due, nudge.SerializeAsString()});
    }
    if (!store.Schedule(user, batch, absl::InfinitePast(), false, absl::InfinitePast()).ok()) {
      std::abort();
    }
  }
}

// Reads every outbox entry: (due ms, published ms) and the number of distinct ids.
struct OutboxScan {
  std::vector<int64_t> lags_ms;
  size_t entries = 0;
  size_t distinct = 0;
};
OutboxScan ScanOutbox(RedisClient& client, int buckets) {
  OutboxScan scan;
  std::vector<std::string> ids;
  for (int b = 0; b < buckets; ++b) {
    std::string from = "-";
    while (true) {
      auto r =
          client.Command({"XRANGE", RedisReminderStore::OutboxKey(b), from, "+", "COUNT", "10000"});
      if (!r.ok() || r->elements.empty()) break;
      for (const RedisReply& e : r->elements) {
        int64_t due = 0, pub = 0;
        const auto& f = e.elements[1].elements;
        for (size_t i = 0; i + 1 < f.size(); i += 2) {
          if (f[i].str == "due_ms") absl::SimpleAtoi(f[i + 1].str, &due);
          if (f[i].str == "pub_ms") absl::SimpleAtoi(f[i + 1].str, &pub);
          if (f[i].str == "nudge_id") ids.push_back(f[i + 1].str);
        }
        scan.lags_ms.push_back(pub - due);
      }
      from = "(" + r->elements.back().elements[0].str;
    }
  }
  scan.entries = ids.size();
  std::sort(ids.begin(), ids.end());
  scan.distinct = static_cast<size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
  return scan;
}

int64_t Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Replicas {
  std::vector<std::shared_ptr<RedisClient>> clients;
  std::vector<std::unique_ptr<RedisReminderStore>> stores;
  std::vector<std::unique_ptr<Dispatcher>> dispatchers;
  NudgeTextProvider texts{nullptr};

  Replicas(const std::string& address, int n) {
    for (int i = 0; i < n; ++i) {
      clients.push_back(Client(address));
      stores.push_back(std::make_unique<RedisReminderStore>(clients.back()));
      DispatcherOptions o;
      o.replica_id = absl::StrCat("bench-replica-", i);
      o.misfire_threshold = absl::Hours(1);
      dispatchers.push_back(
          std::make_unique<Dispatcher>(stores.back().get(), &texts, ScheduleRules{}, o));
    }
  }
  void Start() {
    for (auto& d : dispatchers) d->Start();
  }
  void Stop() {
    for (auto& d : dispatchers) d->Stop();
  }
};

void WaitDrained(RedisReminderStore& store) {
  while (true) {
    auto b = store.Backlog();
    if (b.ok() && b->first == 0 && b->second == 0) return;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

void BM_DispatchThroughput(benchmark::State& state) {
  const int replicas = static_cast<int>(state.range(0));
  const int n = EnvInt("LEGWISE_BENCH_OCCURRENCES", 1000000);
  for (auto _ : state) {
    testing::RedisServer redis;
    if (!redis.Start().ok()) std::abort();
    auto client = Client(redis.address());
    RedisReminderStore store(client);
    // Due within the last 20 minutes (inside the misfire threshold): a backlog ready to go.
    const absl::Time now = absl::Now();
    Prefill(store, n,
            [&](int i) { return now - absl::Seconds(1) - absl::Milliseconds(i % 1200000); });
    Replicas r(redis.address(), replicas);
    (void)client->Command({"CONFIG", "RESETSTAT"});
    const absl::Time start = absl::Now();
    r.Start();
    WaitDrained(store);
    const absl::Duration elapsed = absl::Now() - start;
    r.Stop();
    state.SetIterationTime(absl::ToDoubleSeconds(elapsed));
    const OutboxScan scan = ScanOutbox(*client, store.num_buckets());
    state.counters["occurrences"] = n;
    state.counters["published"] = static_cast<double>(scan.entries);
    state.counters["duplicates"] = static_cast<double>(scan.entries - scan.distinct);
    state.counters["dispatched_per_s"] = n / absl::ToDoubleSeconds(elapsed);
    if (auto info = client->Command({"INFO", "commandstats"});
        info.ok() && std::getenv("LEGWISE_BENCH_VERBOSE")) {
      std::fprintf(stderr, "%s\n", info->str.c_str());
    }
    state.counters["redis_round_trips"] = 0;
    for (auto& c : r.clients)
      state.counters["redis_round_trips"] += static_cast<double>(c->round_trips());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}
BENCHMARK(BM_DispatchThroughput)
    ->Arg(1)
    ->Arg(3)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_DueToPublishedLag(benchmark::State& state) {
  const int replicas = static_cast<int>(state.range(0));
  const int rate = EnvInt("LEGWISE_BENCH_LAG_RATE", 10000);
  const int seconds = EnvInt("LEGWISE_BENCH_LAG_SECONDS", 20);
  const int n = rate * seconds;
  for (auto _ : state) {
    testing::RedisServer redis;
    if (!redis.Start().ok()) std::abort();
    auto client = Client(redis.address());
    RedisReminderStore store(client);
    // Occurrences due at a steady rate, starting once the prefill is surely done.
    const absl::Time base = absl::Now() + absl::Seconds(5 + n / 40000);
    Prefill(store, n,
            [&](int i) { return base + absl::Microseconds(int64_t{i} * 1000000 / rate); });
    if (absl::Now() >= base) std::abort();  // prefill too slow: the lag would be meaningless
    Replicas r(redis.address(), replicas);
    r.Start();
    WaitDrained(store);
    const absl::Time end = absl::Now();
    r.Stop();
    state.SetIterationTime(absl::ToDoubleSeconds(end - base));
    const OutboxScan scan = ScanOutbox(*client, store.num_buckets());
    state.counters["occurrences"] = n;
    state.counters["published"] = static_cast<double>(scan.entries);
    state.counters["duplicates"] = static_cast<double>(scan.entries - scan.distinct);
    state.counters["rate_per_s"] = rate;
    state.counters["lag_p50_ms"] = static_cast<double>(Percentile(scan.lags_ms, 0.50));
    state.counters["lag_p99_ms"] = static_cast<double>(Percentile(scan.lags_ms, 0.99));
    state.counters["lag_max_ms"] = static_cast<double>(Percentile(scan.lags_ms, 1.0));
  }
}
BENCHMARK(BM_DueToPublishedLag)
    ->Arg(1)
    ->Arg(3)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace legwise::reminder
