// Dispatch benchmarks on a real redis-server (AOF everysec, as deployed), with 1 and 3 dispatcher
// replicas (in-process Dispatcher objects, each with its own Redis connection pool, as separate
// replicas would have):
//  - BM_DispatchThroughput: N occurrences already due (scheduled then made due at once); time until
//    every one is in the outbox. items_per_second = occurrences dispatched per second.
//  - BM_DueToPublishedLag: occurrences due at a steady rate (default 10,000/s) for a while; lag =
//    outbox publish time - due time (both on the Redis clock), p50/p99.
//    These two measure the previous per-occurrence layout (store.Schedule: one due-index entry per
//    occurrence), which the dispatcher still drains: the baseline.
//  - BM_PlanDispatchThroughput: the current path, one due entry per plan. U users each with a
//    stored plan (hydration, stretching, movement breaks in a standing shift) whose watermark lies
//    in the past, so every claim derives several occurrences (DueForDispatch) and commits them;
//    time until the expected total (computed with the same planner) is in the outbox.
//  - BM_PlanDueToPublishedLag: BM_DueToPublishedLag on the per-plan path: one snooze per user
//    due at a steady rate (default 10,000/s for LEGWISE_BENCH_LAG_SECONDS, default 10 here), her
//    plan quiet meanwhile; lag p50/p99/max and exactly-once as above.
// Sizes: LEGWISE_BENCH_OCCURRENCES (default 1000000), LEGWISE_BENCH_LAG_RATE (default 10000 per
// second), LEGWISE_BENCH_LAG_SECONDS (default 20), LEGWISE_BENCH_PLAN_USERS (default 20000),
// LEGWISE_BENCH_PLAN_LOOKBACK_MIN (default 720: the watermark's age). Every run checks that each
// occurrence was published exactly once. The throughput runs also report the CPU seconds that
// redis-server (INFO cpu) and this process (the dispatchers) used while dispatching.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/redis_client.h"
#include "services/reminder/delivery/dispatcher.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/delivery/scheduling.h"
#include "services/reminder/planner/plan.h"
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

// Reads every outbox entry: (due ms, published ms), and the distinct ids (sorted).
struct OutboxScan {
  std::vector<int64_t> lags_ms;
  std::vector<std::string> ids;
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
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  scan.distinct = ids.size();
  scan.ids = std::move(ids);
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

  Replicas(const std::string& address, int n, absl::Duration misfire = absl::Hours(1)) {
    for (int i = 0; i < n; ++i) {
      clients.push_back(Client(address));
      stores.push_back(std::make_unique<RedisReminderStore>(clients.back()));
      DispatcherOptions o;
      o.replica_id = absl::StrCat("bench-replica-", i);
      o.misfire_threshold = misfire;
      o.worker_threads = EnvInt("LEGWISE_BENCH_DISPATCH_THREADS", o.worker_threads);
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
  uint64_t published() const {
    uint64_t n = 0;
    for (const auto& d : dispatchers) n += d->published();
    return n;
  }
  double round_trips() const {
    double n = 0;
    for (const auto& c : clients) n += static_cast<double>(c->round_trips());
    return n;
  }
};

// CPU seconds used so far by redis-server (INFO cpu: its main thread and the AOF's background
// work) and by this process (the dispatchers' threads; the waiting loop sleeps).
struct CpuSample {
  double redis_s = 0;
  double self_s = 0;
};
CpuSample SampleCpu(RedisClient& client) {
  CpuSample c;
  if (auto info = client.Command({"INFO", "cpu"}); info.ok()) {
    for (absl::string_view line : absl::StrSplit(info->str, "\r\n")) {
      double v = 0;
      if ((absl::ConsumePrefix(&line, "used_cpu_user:") ||
           absl::ConsumePrefix(&line, "used_cpu_sys:")) &&
          absl::SimpleAtod(line, &v)) {
        c.redis_s += v;
      }
    }
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  c.self_s = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
             static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  return c;
}
void ReportCpu(benchmark::State& state, const CpuSample& before, const CpuSample& after,
               absl::Duration elapsed) {
  const double s = absl::ToDoubleSeconds(elapsed);
  state.counters["redis_cpu_s"] = after.redis_s - before.redis_s;
  state.counters["dispatcher_cpu_s"] = after.self_s - before.self_s;
  state.counters["redis_cores"] = (after.redis_s - before.redis_s) / s;
  state.counters["dispatcher_cores"] = (after.self_s - before.self_s) / s;
}

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
    const CpuSample cpu0 = SampleCpu(*client);
    const absl::Time start = absl::Now();
    r.Start();
    WaitDrained(store);
    const absl::Duration elapsed = absl::Now() - start;
    const CpuSample cpu1 = SampleCpu(*client);
    r.Stop();
    ReportCpu(state, cpu0, cpu1, elapsed);
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

// A plan awake 21 hours a day in UTC with hydration, stretching and movement breaks (a standing
// shift over her whole waking window, every day), whose quiet hours run from the start of the
// previous UTC hour to two hours after the current one: nothing of hers falls due within an hour
// of now, so the occurrences due since a past watermark are the same whenever the claim runs
// (the expected total is exact), and once committed she is not due again during the run.
v1::ReminderPlan PlanDispatchProto(const std::string& user, int hour, absl::Time stamped) {
  v1::ReminderPlan p;
  p.set_user_id(user);
  p.set_time_zone("UTC");
  p.mutable_wake_time()->set_hours((hour + 2) % 24);
  p.mutable_sleep_time()->set_hours((hour + 23) % 24);
  p.add_kinds(v1::NUDGE_KIND_HYDRATION);
  p.add_kinds(v1::NUDGE_KIND_STRETCHING);
  p.add_kinds(v1::NUDGE_KIND_MOVEMENT_BREAK);
  p.set_max_nudges_per_day(48);
  v1::WorkShift* shift = p.add_work_shifts();
  for (int d = v1::DAY_OF_WEEK_MONDAY; d <= v1::DAY_OF_WEEK_SUNDAY; ++d) {
    shift->add_days(static_cast<v1::DayOfWeek>(d));
  }
  *shift->mutable_start() = p.wake_time();
  *shift->mutable_end() = p.sleep_time();
  shift->set_standing(true);
  p.set_locale("en");
  p.set_etag("bench");
  // Created and last changed before the watermark: nothing is held back as "planned before the
  // change" (DueForDispatch's not_before).
  p.mutable_create_time()->set_seconds(absl::ToUnixSeconds(stamped));
  p.mutable_update_time()->set_seconds(absl::ToUnixSeconds(stamped));
  return p;
}

void BM_PlanDispatchThroughput(benchmark::State& state) {
  const int replicas = static_cast<int>(state.range(0));
  const int users = EnvInt("LEGWISE_BENCH_PLAN_USERS", 20000);
  const absl::Duration lookback = absl::Minutes(EnvInt("LEGWISE_BENCH_PLAN_LOOKBACK_MIN", 720));
  const absl::Duration misfire = lookback + absl::Hours(24);  // nothing is skipped
  const ScheduleRules rules;
  for (auto _ : state) {
    testing::RedisServer redis;
    if (!redis.Start().ok()) std::abort();
    auto client = Client(redis.address());
    RedisReminderStore store(client);
    const absl::Time now = absl::Now();
    const absl::CivilHour hour = absl::ToCivilHour(now, absl::UTCTimeZone());
    // Her quiet hours end two hours after this one starts: the run must be over by then.
    const absl::Time quiet_end = absl::FromCivil(hour + 2, absl::UTCTimeZone());
    const absl::Time watermark = absl::FromUnixMillis(absl::ToUnixMillis(now - lookback));
    std::vector<std::string> expected;
    int per_kind[5] = {0, 0, 0, 0, 0};
    for (int u = 0; u < users; ++u) {
      const std::string user = absl::StrCat("plan-bench-", u);
      const v1::ReminderPlan proto =
          PlanDispatchProto(user, hour.hour(), watermark - absl::Hours(24));
      absl::StatusOr<Plan> plan = PlanFromProto(proto);
      if (!plan.ok()) {
        std::fprintf(stderr, "plan does not validate: %s\n", plan.status().ToString().c_str());
        std::abort();
      }
      // What the dispatcher will derive: the same planner on the same arguments.
      const DueWork work = DueForDispatch(*plan, rules, UserState{}, watermark, now, misfire,
                                          watermark - absl::Hours(24));
      if (work.misfired != 0) std::abort();
      for (const v1::Nudge& n : work.publish) {
        expected.push_back(n.nudge_id());
        ++per_kind[std::clamp(static_cast<int>(n.kind()), 0, 4)];
      }
      if (!store.CreatePlan(proto, "", "").ok()) std::abort();
      if (!store.WakePlan(UserKey(user), now, watermark).ok()) std::abort();
    }
    Replicas r(redis.address(), replicas, misfire);
    (void)client->Command({"CONFIG", "RESETSTAT"});
    const CpuSample cpu0 = SampleCpu(*client);
    const absl::Time start = absl::Now();
    r.Start();
    const absl::Time give_up = std::min(start + absl::Minutes(10), quiet_end);
    while (r.published() < expected.size() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    const absl::Duration elapsed = absl::Now() - start;
    const CpuSample cpu1 = SampleCpu(*client);
    r.Stop();
    if (absl::Now() >= quiet_end) {
      std::fprintf(stderr, "run passed the plans' quiet hours: the expected total is not exact\n");
    }
    ReportCpu(state, cpu0, cpu1, elapsed);
    state.SetIterationTime(absl::ToDoubleSeconds(elapsed));
    // Every expected id exactly once, nothing else.
    const OutboxScan scan = ScanOutbox(*client, store.num_buckets());
    std::sort(expected.begin(), expected.end());
    std::vector<std::string> missing, unexpected;
    std::set_difference(expected.begin(), expected.end(), scan.ids.begin(), scan.ids.end(),
                        std::back_inserter(missing));
    std::set_difference(scan.ids.begin(), scan.ids.end(), expected.begin(), expected.end(),
                        std::back_inserter(unexpected));
    state.counters["users"] = users;
    state.counters["occurrences"] = static_cast<double>(expected.size());
    state.counters["per_user"] = static_cast<double>(expected.size()) / users;
    state.counters["hydration"] = per_kind[v1::NUDGE_KIND_HYDRATION];
    state.counters["stretching"] = per_kind[v1::NUDGE_KIND_STRETCHING];
    state.counters["movement"] = per_kind[v1::NUDGE_KIND_MOVEMENT_BREAK];
    state.counters["published"] = static_cast<double>(scan.entries);
    state.counters["duplicates"] = static_cast<double>(scan.entries - scan.distinct);
    state.counters["missing"] = static_cast<double>(missing.size());
    state.counters["unexpected"] = static_cast<double>(unexpected.size());
    state.counters["dispatched_per_s"] =
        static_cast<double>(expected.size()) / absl::ToDoubleSeconds(elapsed);
    state.counters["redis_round_trips"] = r.round_trips();
    state.counters["fenced"] = 0;
    for (auto& d : r.dispatchers) state.counters["fenced"] += static_cast<double>(d->fenced());
    if (auto info = client->Command({"INFO", "commandstats"});
        info.ok() && std::getenv("LEGWISE_BENCH_VERBOSE")) {
      std::fprintf(stderr, "%s\n", info->str.c_str());
    }
    state.SetItemsProcessed(static_cast<int64_t>(expected.size()));
  }
}
BENCHMARK(BM_PlanDispatchThroughput)
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

// The per-plan path at a steady rate: U = rate * seconds users, each with a stored plan quiet
// during the run (PlanDispatchProto: nothing of the plan itself falls due within an hour of now)
// and one snooze (DueForDispatch delivers snoozes whatever her quiet hours) due at
// base + i / rate, her due entry set to that time (WakePlan, as SnoozeNudge does). Snooze due
// times carry milliseconds (the service's own are whole seconds: LEGWISE_BENCH_LAG_WHOLE_SECONDS=1
// rounds them down, 10,000 falling due on each second). The dispatchers (default options: each
// bucket's worker waits on the earliest due time it reported, or a wake-up) run until every
// snooze is in the outbox; lag = outbox pub_ms - due_ms (both on the Redis clock).
void BM_PlanDueToPublishedLag(benchmark::State& state) {
  const int replicas = static_cast<int>(state.range(0));
  const int rate = EnvInt("LEGWISE_BENCH_LAG_RATE", 10000);
  const int seconds = EnvInt("LEGWISE_BENCH_LAG_SECONDS", 10);
  const bool whole_seconds = EnvInt("LEGWISE_BENCH_LAG_WHOLE_SECONDS", 0) != 0;
  const int users = rate * seconds;
  constexpr int kSetupThreads = 4;
  for (auto _ : state) {
    testing::RedisServer redis;
    if (!redis.Start().ok()) std::abort();
    auto client = Client(redis.address());
    RedisReminderStore store(client);
    const absl::Time now = absl::Now();
    const absl::CivilHour hour = absl::ToCivilHour(now, absl::UTCTimeZone());
    const absl::Time quiet_end = absl::FromCivil(hour + 2, absl::UTCTimeZone());
    const absl::Time watermark = absl::FromUnixMillis(absl::ToUnixMillis(now));
    std::atomic<bool> failed{false};
    auto on_threads = [&](auto fn) {
      std::vector<std::thread> setup;
      for (int t = 0; t < kSetupThreads; ++t) {
        setup.emplace_back([&, t] {
          for (int u = t; u < users && !failed; u += kSetupThreads) fn(u);
        });
      }
      for (std::thread& t : setup) t.join();
    };
    // Plans first (one round trip each), timed: the due part (two per user) comes after it, so
    // the first due time is chosen from how fast this machine is right now.
    std::vector<std::optional<Plan>> plans(users);
    on_threads([&](int u) {
      const v1::ReminderPlan proto = PlanDispatchProto(absl::StrCat("lag-bench-", u), hour.hour(),
                                                       watermark - absl::Hours(24));
      absl::StatusOr<Plan> plan = PlanFromProto(proto);
      if (!plan.ok() || !store.CreatePlan(proto, "", "").ok()) {
        failed = true;
        return;
      }
      plans[u] = *std::move(plan);
    });
    const absl::Duration plans_took = absl::Now() - now;
    const absl::Time base = absl::FromUnixSeconds(
        absl::ToUnixSeconds(absl::Now() + absl::Seconds(3) + 3 * plans_took) + 1);
    std::vector<std::string> expected(users);
    on_threads([&](int u) {
      const Plan& plan = *plans[u];
      absl::Time due = base + absl::Milliseconds(int64_t{u} * 1000 / rate);
      if (whole_seconds) due = absl::FromUnixSeconds(absl::ToUnixSeconds(due));
      Occurrence o;
      o.kind = NudgeKind::kHydration;
      o.due = due;
      o.plan_day = PlanDayOf(plan, due);
      o.slot = -1;
      o.nudge_id = MakeSnoozeId(plan.user_id, o.kind, due);
      o.local_time = FormatLocalTime(due, plan.zone);
      expected[u] = o.nudge_id;
      if (!store.WakePlan(UserKey(plan.user_id), due, watermark).ok() ||
          !store.AddSnooze(plan.user_id, ToScheduled(plan, o), watermark - absl::Hours(1)).ok()) {
        failed = true;
      }
    });
    if (failed) {
      state.SkipWithError("setup failed");
      break;
    }
    if (absl::Now() >= base) {
      state.SkipWithError("setup too slow: the first snoozes were due before the dispatchers ran");
      break;
    }
    Replicas r(redis.address(), replicas);
    r.Start();
    const absl::Time give_up =
        std::min(base + absl::Seconds(seconds) + absl::Minutes(2), quiet_end);
    while (r.published() < static_cast<uint64_t>(users) && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    const absl::Time end = absl::Now();
    r.Stop();
    if (end >= quiet_end) {
      std::fprintf(stderr, "run passed the plans' quiet hours: the expected set is not exact\n");
    }
    state.SetIterationTime(absl::ToDoubleSeconds(end - base));
    const OutboxScan scan = ScanOutbox(*client, store.num_buckets());
    std::sort(expected.begin(), expected.end());
    std::vector<std::string> missing, unexpected;
    std::set_difference(expected.begin(), expected.end(), scan.ids.begin(), scan.ids.end(),
                        std::back_inserter(missing));
    std::set_difference(scan.ids.begin(), scan.ids.end(), expected.begin(), expected.end(),
                        std::back_inserter(unexpected));
    state.counters["users"] = users;
    state.counters["rate_per_s"] = rate;
    state.counters["published"] = static_cast<double>(scan.entries);
    state.counters["duplicates"] = static_cast<double>(scan.entries - scan.distinct);
    state.counters["missing"] = static_cast<double>(missing.size());
    state.counters["unexpected"] = static_cast<double>(unexpected.size());
    state.counters["p50_ms"] = static_cast<double>(Percentile(scan.lags_ms, 0.50));
    state.counters["p99_ms"] = static_cast<double>(Percentile(scan.lags_ms, 0.99));
    state.counters["max_ms"] = static_cast<double>(Percentile(scan.lags_ms, 1.0));
    state.counters["redis_round_trips"] = r.round_trips();
  }
}
BENCHMARK(BM_PlanDueToPublishedLag)
    ->Arg(1)
    ->Arg(3)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace legwise::reminder
