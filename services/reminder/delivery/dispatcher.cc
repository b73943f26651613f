#include "services/reminder/delivery/dispatcher.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "services/reminder/core/reminder_core.h"
#include "services/reminder/delivery/scheduling.h"
#include "services/reminder/planner/plan.h"

namespace legwise::reminder {
namespace v1 = ::legwise::reminder::v1;

namespace {

// How long an entry without a plan is kept after it was made (a create in progress).
constexpr absl::Duration kCreateGrace = absl::Minutes(1);
constexpr int64_t kNotWoken = std::numeric_limits<int64_t>::max();

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace

Dispatcher::Dispatcher(ReminderStore* store, NudgeTextProvider* texts, ScheduleRules rules,
                       DispatcherOptions options)
    : store_(store), texts_(texts), rules_(rules), options_(std::move(options)) {
  if (options_.replica_id.empty()) {
    absl::BitGen gen;
    options_.replica_id = absl::StrFormat("%016x", absl::Uniform<uint64_t>(gen));
  }
  Metrics& m = Metrics::Default();
  m.Describe("legwise_reminder_published_total", "counter", "Nudges published to the outbox.");
  m.Describe("legwise_reminder_misfired_total", "counter",
             "Occurrences skipped because they were older than the misfire threshold.");
  m.Describe("legwise_reminder_reaped_total", "counter",
             "Expired leases of the per-occurrence layout returned to its due index.");
  m.Describe("legwise_reminder_fenced_total", "counter",
             "Plan commits refused because their claim had been taken over.");
  m.Describe("legwise_reminder_dispatch_lag_seconds", "histogram",
             "Due time to claim time, on the store's clock.");
  woken_ = std::make_unique<std::atomic<int64_t>[]>(store_->num_buckets());
  for (int b = 0; b < store_->num_buckets(); ++b) woken_[b] = kNotWoken;
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  stop_ = false;
  for (int i = 0; i < options_.worker_threads; ++i) {
    threads_.emplace_back([this, i] { WorkerLoop(i); });
  }
  threads_.emplace_back([this] { MaintenanceLoop(); });
  threads_.emplace_back([this] { WakeLoop(); });
}

void Dispatcher::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

absl::StatusOr<int> Dispatcher::DispatchBucket(int bucket, DueClaim* claim_out) {
  int legacy = 0;
  if (options_.drain_legacy && legacy_active_.load()) {
    absl::StatusOr<int> n = DrainLegacy(bucket);
    if (!n.ok()) return n.status();
    legacy = *n;
  }
  absl::StatusOr<DueClaim> claim =
      store_->ClaimDuePlans(bucket, options_.batch_size, options_.lease);
  if (!claim.ok()) return claim.status();
  if (claim_out != nullptr) *claim_out = *claim;
  if (claim->plans.empty()) return legacy;
  std::vector<std::string> keys;
  keys.reserve(claim->plans.size());
  for (const DuePlan& p : claim->plans) keys.push_back(p.user_key);
  auto loaded = store_->GetPlansAndStatesByKey(keys);
  const absl::Time now = absl::FromUnixMillis(claim->server_now_ms);
  std::vector<PlanCommit> commits;
  int misfired = 0;
  for (size_t i = 0; i < claim->plans.size(); ++i) {
    const DuePlan& due = claim->plans[i];
    PlanCommit c;
    c.user_key = due.user_key;
    c.fence = due.fence;
    c.watermark_ms = claim->server_now_ms;
    if (i >= loaded.size()) break;
    if (absl::IsNotFound(loaded[i].status())) {
      if (claim->server_now_ms - due.watermark_ms < absl::ToInt64Milliseconds(kCreateGrace)) {
        // A create may be storing her plan right now (its entry comes first): look again soon.
        c.watermark_ms = due.watermark_ms;
        c.next_due_ms = claim->server_now_ms + absl::ToInt64Milliseconds(absl::Seconds(5));
      } else {
        c.next_due_ms = -1;  // no plan (deleted, or a create that never stored it): forget her
      }
      commits.push_back(std::move(c));
      continue;
    }
    if (!loaded[i].ok()) continue;  // her lease runs out and the next claim retries
    absl::StatusOr<ValidPlan> plan = ReminderCore::FromStored(std::move(loaded[i]->first));
    if (!plan.ok()) {
      LogWarning("stored_plan_unreadable", {{"bucket", bucket}});
      c.watermark_ms = due.watermark_ms;
      c.next_due_ms = claim->server_now_ms + absl::ToInt64Milliseconds(absl::Hours(1));
      commits.push_back(std::move(c));
      continue;
    }
    const UserState state = ToCoreState(loaded[i]->second);
    DueWork work =
        DueForDispatch(plan->plan, rules_, state, absl::FromUnixMillis(due.watermark_ms), now,
                       options_.misfire_threshold, FromTimestamp(plan->proto.update_time()));
    misfired += work.misfired;
    const int32_t target = WaterTargetMl(plan->plan, rules_);
    for (v1::Nudge& n : work.publish) {
      const auto texts = texts_->Get(n.locale());
      const int k = static_cast<int>(n.kind());
      const NudgeText t = texts->Render(static_cast<NudgeKind>(IsNudgeKind(k) ? k : 1), target);
      n.set_title(t.title);
      n.set_body(t.body);
      n.set_locale(texts->locale);
      const int64_t due_ms = n.due_time().seconds() * 1000 + n.due_time().nanos() / 1000000;
      Metrics::Default().Observe("legwise_reminder_dispatch_lag_seconds", {},
                                 static_cast<double>(claim->server_now_ms - due_ms) / 1000.0);
      c.items.push_back({n.nudge_id(), due_ms, n.SerializeAsString()});
    }
    c.next_due_ms = absl::ToUnixMillis(work.next_due);
    commits.push_back(std::move(c));
  }
  if (misfired > 0) {
    skipped_ += misfired;
    Metrics::Default().Increment("legwise_reminder_misfired_total", {}, misfired);
    LogWarning("nudges_misfired", {{"count", misfired}, {"bucket", bucket}});
  }
  absl::StatusOr<CommitResult> r = store_->CommitDuePlans(bucket, commits);
  if (!r.ok()) return r.status();  // the leases run out and the next claims recompute them
  // Someone changed while claimed is due again now: come back at once.
  if (r->requeued > 0 && claim_out != nullptr) claim_out->earliest_ms = claim->server_now_ms;
  published_ += r->published;
  Metrics::Default().Increment("legwise_reminder_published_total", {}, r->published);
  if (r->fenced > 0) {
    fenced_ += r->fenced;
    Metrics::Default().Increment("legwise_reminder_fenced_total", {}, r->fenced);
  }
  return legacy + r->published;
}

// The per-occurrence layout before the per-plan index (see WakePlan): occurrences still in it are
// claimed and published as they were, until it is empty.
absl::StatusOr<int> Dispatcher::DrainLegacy(int bucket) {
  const std::string token = absl::StrCat(options_.replica_id, ":", claim_seq_.fetch_add(1));
  absl::StatusOr<ClaimResult> claim =
      store_->Claim(bucket, options_.batch_size, token, options_.lease, options_.misfire_threshold);
  if (!claim.ok()) return claim.status();
  if (claim->skipped > 0) {
    skipped_ += claim->skipped;
    Metrics::Default().Increment("legwise_reminder_misfired_total", {}, claim->skipped);
    LogWarning("nudges_misfired", {{"count", claim->skipped}, {"bucket", bucket}});
  }
  if (claim->claimed.empty()) return 0;
  std::vector<PublishItem> items;
  items.reserve(claim->claimed.size());
  for (ClaimedNudge& c : claim->claimed) {
    PublishItem item;
    const size_t colon = c.member.find(':');
    item.user_key = c.member.substr(0, colon);
    item.nudge_id = colon == std::string::npos ? c.member : c.member.substr(colon + 1);
    v1::Nudge nudge;
    if (nudge.ParseFromString(c.payload)) {
      const int32_t target = TakePayloadWaterTarget(&nudge);
      const auto texts = texts_->Get(nudge.locale());
      const NudgeText t = texts->Render(
          static_cast<NudgeKind>(IsNudgeKind(nudge.kind()) ? static_cast<int>(nudge.kind()) : 1),
          target > 0 ? target : rules_.default_water_target_ml);
      nudge.set_title(t.title);
      nudge.set_body(t.body);
      nudge.set_locale(texts->locale);
    } else {
      nudge.set_nudge_id(item.nudge_id);  // unreadable payload: still delivered once, by id
    }
    item.payload = nudge.SerializeAsString();
    item.member = std::move(c.member);
    Metrics::Default().Observe("legwise_reminder_dispatch_lag_seconds", {},
                               static_cast<double>(claim->server_now_ms - c.due_ms) / 1000.0);
    items.push_back(std::move(item));
  }
  absl::StatusOr<int> n = store_->Publish(bucket, token, items);
  if (!n.ok()) return n.status();  // the lease expires and the reaper returns them
  published_ += *n;
  Metrics::Default().Increment("legwise_reminder_published_total", {}, *n);
  return *n;
}

absl::StatusOr<int> Dispatcher::ReapAll() {
  int total = 0;
  for (int b = 0; b < store_->num_buckets(); ++b) {
    absl::StatusOr<int> n = store_->Reap(b, 1000);
    if (!n.ok()) return n.status();
    total += *n;
  }
  if (total > 0) {
    reaped_ += total;
    Metrics::Default().Increment("legwise_reminder_reaped_total", {}, total);
    LogInfo("leases_reaped", {{"count", total}});
  }
  return total;
}

absl::StatusOr<int> Dispatcher::MigrateAll(absl::Time now) {
  int users = 0;
  for (int b = 0; b < store_->num_buckets(); ++b) {
    absl::StatusOr<std::vector<std::string>> keys = store_->ClaimRefills(b, 200, absl::Minutes(1));
    if (!keys.ok()) return keys.status();
    for (const std::string& key : *keys) {
      absl::StatusOr<v1::ReminderPlan> proto = store_->GetPlanByKey(key);
      if (absl::IsNotFound(proto.status())) {
        (void)store_->DropRefill(key);  // no plan (deleted, or a create that never stored it)
        continue;
      }
      if (!proto.ok()) continue;  // retried when the refill lease ends
      // Due now: the first claim sets her next due time. Entering the per-plan index removes her
      // per-occurrence entries after `now` and her refill entry.
      if (store_->WakePlan(key, now, now).ok()) ++users;
    }
  }
  if (users > 0) LogInfo("plans_migrated", {{"count", users}});
  return users;
}

void Dispatcher::WorkerLoop(int index) {
  const int n = store_->num_buckets();
  const int threads = std::max(1, options_.worker_threads);
  std::vector<int> mine;
  for (int b = index; b < n; b += threads) mine.push_back(b);
  // When each of my buckets is to be claimed next (local clock).
  std::vector<absl::Time> next(mine.size(), absl::Now());
  while (!stop_) {
    absl::Time now = absl::Now();
    for (size_t i = 0; i < mine.size() && !stop_; ++i) {
      const int64_t woken = woken_[mine[i]].exchange(kNotWoken);
      if (woken != kNotWoken) next[i] = std::min(next[i], absl::FromUnixMillis(woken));
      if (next[i] > now) continue;
      DueClaim claim;
      absl::StatusOr<int> got = DispatchBucket(mine[i], &claim);
      now = absl::Now();
      if (!got.ok()) {
        next[i] = now + absl::Milliseconds(200);
      } else if (*got > 0 || static_cast<int>(claim.plans.size()) >= options_.batch_size) {
        next[i] = now;  // a full batch, or something published: more may be due
      } else {
        absl::Duration wait = options_.max_idle_wait;
        if (claim.earliest_ms >= 0) {
          wait = std::min(wait, absl::Milliseconds(claim.earliest_ms - claim.server_now_ms));
        }
        next[i] = now + std::max(wait, absl::ZeroDuration());
      }
    }
    const absl::Time wake = *std::min_element(next.begin(), next.end());
    const absl::Duration sleep = std::min(wake - absl::Now(), absl::Milliseconds(100));
    if (sleep > absl::ZeroDuration()) absl::SleepFor(sleep);
  }
}

// One blocking read at a time: a wake-up for a bucket moves its worker's next claim earlier.
void Dispatcher::WakeLoop() {
  while (!stop_) {
    absl::StatusOr<std::optional<Wake>> w = store_->WaitWake(options_.wake_wait);
    if (!w.ok()) {
      absl::SleepFor(absl::Milliseconds(200));  // the store is down: the workers' claims notice
      continue;
    }
    if (!w->has_value() || (*w)->bucket < 0 || (*w)->bucket >= store_->num_buckets()) continue;
    std::atomic<int64_t>& slot = woken_[(*w)->bucket];
    const int64_t due = absl::ToUnixMillis((*w)->due);
    int64_t cur = slot.load();
    while (due < cur && !slot.compare_exchange_weak(cur, due)) {
    }
  }
}

void Dispatcher::MaintenanceLoop() {
  absl::Time next = absl::Now();
  while (!stop_) {
    if (absl::Now() >= next) {
      (void)ReapAll();
      (void)MigrateAll(absl::Now());
      // The previous layout is drained when nothing is pending or leased in it: new writes never
      // add to it (only a replica of the previous version would), so the workers stop claiming
      // it and this pass slows down until it finds some again.
      bool drained = false;
      if (options_.drain_legacy) {
        absl::StatusOr<std::pair<int64_t, int64_t>> backlog = store_->Backlog();
        drained = backlog.ok() && backlog->first == 0 && backlog->second == 0;
        if (backlog.ok() && drained == legacy_active_.load()) {
          legacy_active_ = !drained;
          LogInfo(drained ? "legacy_layout_drained" : "legacy_layout_found", {});
        }
      }
      next = absl::Now() +
             (drained ? options_.drained_maintenance_interval : options_.maintenance_interval);
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace legwise::reminder
