// Live delivery to StreamNudges subscribers on this replica. Every replica reads the whole outbox
// (all buckets, from the moment it started) and hands each nudge to the local subscribers of its
// user, so a user connected to any replica receives nudges published by any replica.
#ifndef LEGWISE_SERVICES_REMINDER_DELIVERY_NUDGE_HUB_H_
#define LEGWISE_SERVICES_REMINDER_DELIVERY_NUDGE_HUB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {

class NudgeHub {
 public:
  // Called on the hub's thread; must not block.
  using Sink = std::function<void(const legwise::reminder::v1::Nudge&)>;

  explicit NudgeHub(ReminderStore* store) : store_(store) {}
  ~NudgeHub() { Stop(); }
  NudgeHub(const NudgeHub&) = delete;
  NudgeHub& operator=(const NudgeHub&) = delete;

  // Starts reading the outbox from its current end.
  void Start();
  void Stop();

  // Registers a subscriber of `user_id`'s nudges; returns its handle. After Unsubscribe returns,
  // the sink is never called again.
  uint64_t Subscribe(const std::string& user_id, Sink sink);
  void Unsubscribe(uint64_t handle);
  size_t subscribers();

 private:
  void Loop();

  ReminderStore* store_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  std::multimap<std::string, std::pair<uint64_t, Sink>> by_user_ ABSL_GUARDED_BY(mu_);  // user key
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_DELIVERY_NUDGE_HUB_H_
