// The dispatcher: every replica runs one. The due index holds one entry per plan (when it is next
// due); the dispatcher claims due plans bucket by bucket under a lease with a fencing token (an
// atomic store step on the store's clock), reads their plans and states in one round trip, derives
// the occurrences due since each one's watermark (DueForDispatch: the same ids whoever computes
// them), adds the localized texts, and commits per bucket in one atomic step that checks each
// fence, appends to the outbox, advances the watermark and sets the next due time. A replica that
// dies mid-way loses its lease; the next claim recomputes the same occurrences: exactly once.
// Idle, a worker waits until the earliest due time its buckets reported, at most `max_idle_wait`;
// a write that makes someone due sooner than that leaves a wake-up (ReminderStore::WaitWake),
// which one waiter thread per replica blocks on and hands to the bucket's worker. An idle replica
// costs one claim per bucket per max_idle_wait plus the waiter's blocking reads.
#ifndef LEGWISE_SERVICES_REMINDER_DELIVERY_DISPATCHER_H_
#define LEGWISE_SERVICES_REMINDER_DELIVERY_DISPATCHER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/planner/schedule_rules.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {

struct DispatcherOptions {
  // Names this replica in lease tokens (a random id is used when empty).
  std::string replica_id;
  // Occurrences claimed and published per store round trip.
  int batch_size = 500;
  // How long a claim is held before the reaper hands it to another replica.
  absl::Duration lease = absl::Seconds(10);
  // Occurrences later than this at claim time are skipped, not delivered (after downtime).
  absl::Duration misfire_threshold = absl::Minutes(30);
  // Longest wait before a bucket is claimed again when it reported nothing due sooner. A write
  // that makes her due sooner than that leaves a wake-up (set the store's wake_within to this), so
  // this bounds only how late she is when a wake-up is lost.
  absl::Duration max_idle_wait = absl::Seconds(10);
  // Longest blocking read for a wake-up (the Redis store caps it below its command timeout).
  absl::Duration wake_wait = absl::Milliseconds(400);
  // How often expired legacy leases are reaped and old-layout plans migrated.
  absl::Duration maintenance_interval = absl::Seconds(1);
  // Once the previous layout is drained (no occurrence pending or leased in it), the maintenance
  // pass runs this rarely instead (still migrating plans whose refill comes due, and noticing
  // data an older replica wrote during a rolling upgrade), and the workers stop claiming it.
  absl::Duration drained_maintenance_interval = absl::Seconds(30);
  // Also drain occurrences still in the per-occurrence layout (a Redis written by the previous
  // version); each bucket's legacy index is claimed with the per-plan one.
  bool drain_legacy = true;
  // Claim/publish threads.
  int worker_threads = 2;
};

class Dispatcher {
 public:
  // `store` and `texts` must outlive the dispatcher.
  Dispatcher(ReminderStore* store, NudgeTextProvider* texts, ScheduleRules rules,
             DispatcherOptions options);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts the worker and maintenance threads.
  void Start();
  // Stops and joins them (claims in progress are published or left to the reaper).
  void Stop();

  // One claim + commit of due plans on one bucket. Returns how many occurrences were published;
  // `claim` (optional) receives the claim (its earliest due time tells when to come back).
  absl::StatusOr<int> DispatchBucket(int bucket, DueClaim* claim = nullptr);
  // The previous layout, until it is empty: one claim + publish of per-occurrence entries of
  // `bucket`; expired leases of those back to their index; users with a refill entry (a plan
  // scheduled by the previous version) moved into the per-plan index. Each returns how many.
  absl::StatusOr<int> DrainLegacy(int bucket);
  absl::StatusOr<int> ReapAll();
  absl::StatusOr<int> MigrateAll(absl::Time now);

  uint64_t published() const { return published_.load(); }
  uint64_t skipped() const { return skipped_.load(); }
  uint64_t reaped() const { return reaped_.load(); }
  uint64_t fenced() const { return fenced_.load(); }
  // Whether the workers still claim the previous layout (false once a maintenance pass found it
  // empty; true again if one finds it written).
  bool legacy_active() const { return legacy_active_.load(); }

 private:
  void WorkerLoop(int index);
  void MaintenanceLoop();
  void WakeLoop();

  ReminderStore* store_;
  NudgeTextProvider* texts_;
  ScheduleRules rules_;
  DispatcherOptions options_;
  std::atomic<uint64_t> claim_seq_{0};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<uint64_t> reaped_{0};
  std::atomic<uint64_t> fenced_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> legacy_active_{true};
  // Per bucket: the earliest due time (Unix ms) a wake-up asked for, or INT64_MAX; the waiter sets
  // it, the bucket's worker takes it.
  std::unique_ptr<std::atomic<int64_t>[]> woken_;
  std::vector<std::thread> threads_;
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_DELIVERY_DISPATCHER_H_
