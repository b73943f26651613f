#include "services/reminder/delivery/dispatcher.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "services/reminder/delivery/scheduling.h"
#include "services/reminder/planner/plan.h"

namespace legwise::reminder {
namespace v1 = ::legwise::reminder::v1;

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
             "Expired leases returned to the due index.");
  m.Describe("legwise_reminder_dispatch_lag_seconds", "histogram",
             "Due time to claim time, on the store's clock.");
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  stop_ = false;
  for (int i = 0; i < options_.worker_threads; ++i) {
    threads_.emplace_back([this, i] { WorkerLoop(i); });
  }
  threads_.emplace_back([this] { MaintenanceLoop(); });
}

void Dispatcher::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

absl::StatusOr<int> Dispatcher::DispatchBucket(int bucket) {
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

absl::StatusOr<int> Dispatcher::RefillAll(absl::Time now) {
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
      if (!proto.ok()) continue;  // retried when the lease ends
      absl::StatusOr<Plan> plan = PlanFromProto(*proto);
      if (!plan.ok()) continue;
      absl::StatusOr<int> n =
          ScheduleHorizon(*store_, rules_, *plan, now, options_.horizon, /*replace=*/false);
      if (n.ok()) ++users;
    }
  }
  return users;
}

void Dispatcher::WorkerLoop(int index) {
  const int n = store_->num_buckets();
  int start = (index * n) / std::max(1, options_.worker_threads);
  while (!stop_) {
    int published = 0;
    bool error = false;
    for (int i = 0; i < n && !stop_; ++i) {
      const int b = (start + i) % n;
      // Drain the bucket while full batches keep coming.
      while (!stop_) {
        absl::StatusOr<int> got = DispatchBucket(b);
        if (!got.ok()) {
          error = true;
          break;
        }
        published += *got;
        if (*got < options_.batch_size) break;
      }
    }
    start = (start + 1) % n;  // replicas and threads do not all hit the same bucket first
    if (published == 0 || error)
      absl::SleepFor(error ? absl::Milliseconds(200) : options_.idle_sleep);
  }
}

void Dispatcher::MaintenanceLoop() {
  absl::Time next = absl::Now();
  while (!stop_) {
    if (absl::Now() >= next) {
      (void)ReapAll();
      (void)RefillAll(absl::Now());
      next = absl::Now() + options_.maintenance_interval;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace legwise::reminder
