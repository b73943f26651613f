// One Redis against a 3-master Redis Cluster (3 masters + 3 replicas, redis-cli --cluster create),
// measured in one run on the same machine:
//  - content: cached GetGuidance on the real legwise-content (L1 off, so every call reads Redis),
//    as a ratio of the same server's Health/Check;
//  - reminder: CreateReminderPlan on the real legwise-reminder, as a ratio of its Health/Check;
//  - reminder dispatch: N occurrences already due, drained by 3 in-process dispatchers through the
//    real store; occurrences/s, and every one published exactly once.
// Prints a Markdown table. Flags: --seconds (per measurement), --inflight, --occurrences.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/load/load.h"
#include "grpc/health/v1/health.pb.h"
#include "legwise/content/v1/content.pb.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/config.h"
#include "services/common/redis_client.h"
#include "services/reminder/delivery/dispatcher.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/store/redis_store.h"
#include "tests/support/process.h"
#include "tests/support/redis_cluster.h"

namespace legwise {
namespace {

namespace lt = ::legwise::testing;
using bench::Fixed;
using bench::LoadResult;
using bench::RequestMaker;
using bench::RunClosedLoop;

constexpr char kHealth[] = "/grpc.health.v1.Health/Check";

struct Backend {
  std::string name;
  std::vector<std::string> flags;  // --redis_addr (and --redis_cluster)
  RedisOptions options;
};

reminder::v1::ReminderPlan Plan(const std::string& user) {
  reminder::v1::ReminderPlan p;
  p.set_user_id(user);
  p.set_time_zone("Europe/Madrid");
  p.mutable_wake_time()->set_hours(7);
  p.mutable_sleep_time()->set_hours(22);
  p.add_kinds(reminder::v1::NUDGE_KIND_HYDRATION);
  p.add_kinds(reminder::v1::NUDGE_KIND_STRETCHING);
  return p;
}

// RPC req/s and the same server's Health/Check req/s, interleaved twice.
std::pair<LoadResult, LoadResult> Measure(lt::ServiceProcess& svc, const std::string& method,
                                          const RequestMaker& request, int inflight, int seconds) {
  auto channel = svc.channel();
  const grpc::health::v1::HealthCheckRequest health_req;
  RunClosedLoop(channel, method, request, inflight, absl::Seconds(1));  // warm up
  LoadResult h{}, r{};
  for (int round = 0; round < 2; ++round) {
    LoadResult hh =
        RunClosedLoop(channel, kHealth, Fixed(health_req), inflight, absl::Seconds(seconds));
    LoadResult rr = RunClosedLoop(channel, method, request, inflight, absl::Seconds(seconds));
    h.requests_per_second += hh.requests_per_second / 2;
    r.requests_per_second += rr.requests_per_second / 2;
    r.p99_us = std::max(r.p99_us, rr.p99_us);
    r.failed += rr.failed;
  }
  return {r, h};
}

struct DispatchResult {
  double per_second = 0;
  size_t published = 0;
  size_t duplicates = 0;
};

// `n` due occurrences scheduled through the store, drained by 3 dispatchers.
DispatchResult Dispatch(const RedisOptions& options, int n) {
  auto client = std::make_shared<RedisClient>(options);
  reminder::RedisReminderStore store(client);
  const absl::Time now = absl::Now();
  constexpr int kPerUser = 100;
  const std::string run = absl::StrCat(absl::ToUnixMicros(now));
  for (int start = 0; start < n; start += kPerUser) {
    const std::string user = absl::StrCat("bench-", run, "-", start / kPerUser);
    std::vector<reminder::ScheduledNudge> batch;
    for (int i = start; i < std::min(n, start + kPerUser); ++i) {
      const absl::Time due = now - absl::Seconds(1) - absl::Milliseconds(i % 600000);
      reminder::v1::Nudge nudge;
      const std::string id = reminder::MakeNudgeId(user, reminder::NudgeKind::kHydration,
                                                   absl::CivilDay(2026, 1, 1), i - start);
      nudge.set_nudge_id(id);
      nudge.set_user_id(user);
      nudge.set_kind(reminder::v1::NUDGE_KIND_HYDRATION);
      nudge.mutable_due_time()->set_seconds(absl::ToUnixSeconds(due));
      nudge.set_locale("en");
      batch.push_back({id, due, nudge.SerializeAsString()});
    }
    if (!store.Schedule(user, batch, absl::InfinitePast(), false, absl::InfinitePast()).ok()) {
      std::cerr << "schedule failed\n";
      std::abort();
    }
  }
  std::vector<std::shared_ptr<RedisClient>> clients;
  std::vector<std::unique_ptr<reminder::RedisReminderStore>> stores;
  std::vector<std::unique_ptr<reminder::Dispatcher>> dispatchers;
  reminder::NudgeTextProvider texts{nullptr};
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_shared<RedisClient>(options));
    stores.push_back(std::make_unique<reminder::RedisReminderStore>(clients.back()));
    reminder::DispatcherOptions o;
    o.replica_id = absl::StrCat("bench-replica-", i);
    o.misfire_threshold = absl::Hours(1);
    dispatchers.push_back(std::make_unique<reminder::Dispatcher>(stores.back().get(), &texts,
                                                                 reminder::ScheduleRules{}, o));
  }
  std::cerr << "dispatch: " << n << " scheduled in " << absl::FormatDuration(absl::Now() - now)
            << "\n";
  const absl::Time start = absl::Now();
  for (auto& d : dispatchers) d->Start();
  // Gives up when the backlog stops shrinking for a minute (reported, not hidden).
  int64_t last_backlog = -1;
  absl::Time last_progress = absl::Now();
  while (true) {
    auto b = store.Backlog();
    if (b.ok() && b->first == 0 && b->second == 0) break;
    if (b.ok() && b->first + b->second != last_backlog) {
      last_backlog = b->first + b->second;
      last_progress = absl::Now();
    }
    if (absl::Now() - last_progress > absl::Minutes(1)) {
      std::cerr << "dispatch stalled with " << last_backlog << " left\n";
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Duration elapsed = absl::Now() - start;
  for (auto& d : dispatchers) d->Stop();
  DispatchResult out;
  out.per_second = n / absl::ToDoubleSeconds(elapsed);
  std::vector<std::string> ids;
  for (int b = 0; b < store.num_buckets(); ++b) {
    std::string from = "-";
    while (true) {
      auto r = client->Command(
          {"XRANGE", reminder::RedisReminderStore::OutboxKey(b), from, "+", "COUNT", "10000"});
      if (!r.ok() || r->elements.empty()) break;
      for (const RedisReply& e : r->elements) {
        const auto& f = e.elements[1].elements;
        for (size_t i = 0; i + 1 < f.size(); i += 2) {
          if (f[i].str == "nudge_id") ids.push_back(f[i + 1].str);
        }
      }
      from = "(" + r->elements.back().elements[0].str;
    }
  }
  out.published = ids.size();
  std::cerr << "dispatch: drained in " << absl::FormatDuration(elapsed) << "\n";
  std::sort(ids.begin(), ids.end());
  out.duplicates =
      ids.size() - static_cast<size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
  return out;
}

int Main(int argc, char** argv) {
  int seconds = 5, inflight = 32, occurrences = 200000;
  FlagSet flags("redis_cluster_bench");
  flags.AddInt("seconds", &seconds, "Seconds per measurement (each taken twice).", 1, 600);
  flags.AddInt("inflight", &inflight, "Concurrent calls in the closed loop.", 1, 4096);
  flags.AddInt("occurrences", &occurrences, "Due occurrences per dispatch run.", 1000, 10000000);
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.help_requested()) {
    std::cerr << s.message() << "\n" << flags.Usage();
    return s.ok() ? 0 : 2;
  }
  lt::RedisServer single;
  if (absl::Status s = single.Start(); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  lt::RedisCluster cluster;
  if (absl::Status s = cluster.Start(); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  std::vector<Backend> backends(2);
  backends[0].name = "one Redis";
  backends[0].flags = {"--redis_addr=" + single.address()};
  backends[0].options.address = single.address();
  backends[1].name = "Redis Cluster (3 masters + 3 replicas)";
  backends[1].flags = {"--redis_cluster", "--redis_addr=" + cluster.seeds()};
  backends[1].options.address = cluster.seeds();
  backends[1].options.cluster = true;
  for (Backend& b : backends) {
    b.options.command_timeout = absl::Seconds(10);
    b.options.pool_size = 8;
  }

  const std::string no_limit = "--rate_limit_per_second=0";
  content::v1::GetGuidanceRequest guidance;
  guidance.set_topic_id("leg-cramps");
  guidance.set_locale("es");
  guidance.mutable_context()->set_stands_for_long_periods(true);
  const std::string run = absl::StrCat(absl::ToUnixSeconds(absl::Now()));

  std::cout << "| backend | measurement | req/s or occurrences/s | Health/Check req/s | ratio | "
               "p99 us | failed / duplicates |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const Backend& b : backends) {
    {
      std::vector<std::string> args = b.flags;
      args.insert(args.end(), {"--l1_capacity=0", "--redis_timeout=1s", no_limit});
      lt::ServiceProcess content("legwise-content", args);
      if (!content.Start().ok() ||
          !lt::WaitForHealth(content.channel().get(), "dependency/redis", true, absl::Seconds(20))
               .ok()) {
        std::cerr << "content not ready: " << content.log_path() << "\n";
        return 1;
      }
      auto [r, h] = Measure(content, "/legwise.content.v1.ContentService/GetGuidance",
                            Fixed(guidance), inflight, seconds);
      std::cout << absl::StrFormat(
                       "| %s | content GetGuidance (Redis hit, L1 off) | %.0f | %.0f | %.2f | %.0f "
                       "| %d |\n",
                       b.name, r.requests_per_second, h.requests_per_second,
                       r.requests_per_second / h.requests_per_second, r.p99_us, r.failed)
                << std::flush;
    }
    {
      std::vector<std::string> args = b.flags;
      args.insert(args.end(), {"--content_addr=", "--dispatcher=false", no_limit});
      lt::ServiceProcess reminder("legwise-reminder", args);
      if (!reminder.Start().ok() ||
          !lt::WaitForHealth(reminder.channel().get(), "", true, absl::Seconds(20)).ok()) {
        std::cerr << "reminder not ready: " << reminder.log_path() << "\n";
        return 1;
      }
      auto next = std::make_shared<std::atomic<int64_t>>(0);
      const std::string prefix = absl::StrCat("load-", run, "-", b.options.cluster ? "c" : "s");
      RequestMaker create = [prefix, next](int64_t) {
        reminder::v1::CreateReminderPlanRequest req;
        *req.mutable_plan() = Plan(absl::StrCat(prefix, "-", next->fetch_add(1)));
        return bench::Request{req.SerializeAsString(), ""};
      };
      auto [r, h] = Measure(reminder, "/legwise.reminder.v1.ReminderService/CreateReminderPlan",
                            create, inflight, seconds);
      std::cout << absl::StrFormat(
                       "| %s | reminder CreateReminderPlan | %.0f | %.0f | %.2f | %.0f | %d |\n",
                       b.name, r.requests_per_second, h.requests_per_second,
                       r.requests_per_second / h.requests_per_second, r.p99_us, r.failed)
                << std::flush;
    }
    // An empty Redis for the dispatch run: the plans created above have occurrences of their own.
    if (b.options.cluster) {
      for (int i = 0; i < cluster.size(); ++i) (void)cluster.Cli(i, {"FLUSHALL"});
    } else {
      RedisClient flush(b.options);
      (void)flush.Command({"FLUSHALL"});
    }
    DispatchResult d = Dispatch(b.options, occurrences);
    std::cout << absl::StrFormat(
                     "| %s | reminder dispatch, 3 dispatchers, %d due | %.0f | | | | %d of %d "
                     "published twice |\n",
                     b.name, occurrences, d.per_second, d.duplicates, d.published)
              << std::flush;
  }
  return 0;
}

}  // namespace
}  // namespace legwise

int main(int argc, char** argv) { return legwise::Main(argc, argv); }
