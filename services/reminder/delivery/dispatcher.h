// The dispatcher: every replica runs one. It claims due occurrences bucket by bucket (an atomic
// store operation on the store's clock: due -> in flight with a lease), adds the localized texts,
// and publishes them to the outbox (atomic again: only while it still holds the lease), so with any
// number of replicas each occurrence is published once. A maintenance thread returns expired leases
// (a replica died between claim and publish) and extends users' planning horizons (refill).
#ifndef LEGWISE_SERVICES_REMINDER_DELIVERY_DISPATCHER_H_
#define LEGWISE_SERVICES_REMINDER_DELIVERY_DISPATCHER_H_

#include <atomic>
#include <cstdint>
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
  // Pause when nothing was due in a full pass over the buckets.
  absl::Duration idle_sleep = absl::Milliseconds(50);
  // How often expired leases are reaped and refills looked for.
  absl::Duration maintenance_interval = absl::Seconds(1);
  // How far ahead occurrences are scheduled.
  absl::Duration horizon = absl::Hours(48);
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

  // One claim + publish on one bucket. Returns how many were published.
  absl::StatusOr<int> DispatchBucket(int bucket);
  // Returns expired leases of every bucket to the due index. Returns how many.
  absl::StatusOr<int> ReapAll();
  // Extends the horizon of users whose refill is due. Returns how many users were refilled.
  absl::StatusOr<int> RefillAll(absl::Time now);

  uint64_t published() const { return published_.load(); }
  uint64_t skipped() const { return skipped_.load(); }
  uint64_t reaped() const { return reaped_.load(); }

 private:
  void WorkerLoop(int index);
  void MaintenanceLoop();

  ReminderStore* store_;
  NudgeTextProvider* texts_;
  ScheduleRules rules_;
  DispatcherOptions options_;
  std::atomic<uint64_t> claim_seq_{0};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<uint64_t> reaped_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_DELIVERY_DISPATCHER_H_
