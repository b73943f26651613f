// FeedConsumer: legwise-push's loop. One consumer of each outbox stream's "push" group: reads new
// entries (XREADGROUP, only while the PushSender has room), takes over what a dead consumer left
// (XAUTOCLAIM every claim_interval, entries idle for claim_min_idle), fans each entry out to her
// devices, and acknowledges it (XACK) once every device's push has a final outcome. A device the
// provider calls unregistered is forgotten before the XACK. For an entry with several devices,
// each device done is recorded in a small hash next to the entry (rm:{b<b>}:pushdone:<id>), so a
// takeover skips it. Every trim_interval, each stream is trimmed (XTRIM MINID ~) to what every
// group has acknowledged and the replay window no longer needs.
//
// Threads: Run() on one thread does every Redis call (through a pooled RedisClient); the sender's
// callbacks only queue their results for it.
#ifndef LEGWISE_SERVICES_REMINDER_FEED_CONSUMER_H_
#define LEGWISE_SERVICES_REMINDER_FEED_CONSUMER_H_

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "services/common/metrics.h"
#include "services/common/redis_client.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/devices/device_store.h"
#include "services/reminder/feed/feed_entry.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/planner/schedule_rules.h"
#include "services/reminder/push/sender.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {

struct FeedConsumerOptions {
  std::string consumer = "push-0";  // this replica's name in the group (its pod name)
  std::string group = "push";
  int num_buckets = 16;  // the reminder's --due_buckets
  int batch = 500;       // entries per XREADGROUP / XAUTOCLAIM
  // The sender's max_pending: a batch is read only while batch * 10 (devices) more jobs fit.
  int max_pending = 100000;
  absl::Duration idle_poll = absl::Milliseconds(100);  // pause when nothing was read
  absl::Duration claim_interval = absl::Seconds(30);
  absl::Duration claim_min_idle = absl::Minutes(15);
  absl::Duration trim_interval = absl::Seconds(30);
  // StreamNudges replays the outbox this far back (the reminder's replay window): kept.
  absl::Duration replay_window = absl::Hours(24);
  // How often the entries still in flight (a push waiting out a 429/5xx backoff) get their idle
  // time reset (XCLAIM ... JUSTID to ourselves), so no other replica's XAUTOCLAIM takes them over
  // while we still work on them. Well under claim_min_idle.
  absl::Duration refresh_interval = absl::Minutes(3);
  // Consumers of the group (other than this one) idle this long with nothing pending are removed
  // (XGROUP DELCONSUMER): replicas gone for good (each pod has its own name) would otherwise stay
  // in the group forever. Checked every trim_interval.
  absl::Duration consumer_idle_limit = absl::Hours(1);
  // How long the per-device done hash of an entry is kept.
  absl::Duration done_retention = absl::Hours(25);
  // Texts for devices whose locale is not the nudge's (nullptr: the nudge's texts for every
  // device), and the rules giving her water target when her plan sets none (the reminder's).
  NudgeTextProvider* texts = nullptr;
  ScheduleRules rules;
  Metrics* metrics = nullptr;  // nullptr: Metrics::Default()
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// The first instant at or after `due` inside her quiet hours [sleep, wake), on her wall clock.
absl::Time NextQuietStart(const Plan& plan, absl::Time due);

// The stream id below which `stream` may be trimmed: the oldest of the replay window's start and,
// per consumer group, its oldest pending entry (or, with none pending, the entry after its last
// delivered one). "" when nothing may be trimmed (no group yet).
absl::StatusOr<std::string> TrimPoint(RedisClient* redis, const std::string& stream,
                                      absl::Time replay_start);
// XTRIM <stream> MINID ~ TrimPoint: the entries removed.
absl::StatusOr<int64_t> TrimFeed(RedisClient* redis, const std::string& stream,
                                 absl::Time replay_start);

// XCLAIM <stream> <group> <consumer> 0 <ids...> JUSTID: resets the ids' idle time, keeping them
// with `consumer` and their delivery counts unchanged. Sent in chunks (bounded command size).
absl::Status RefreshPending(RedisClient* redis, const std::string& stream, const std::string& group,
                            const std::string& consumer, const std::vector<std::string>& ids);
// Removes the consumers of `group` on `stream` other than `keep` that have nothing pending and
// have been idle at least `min_idle` (XGROUP DELCONSUMER); returns how many.
absl::StatusOr<int> RemoveIdleConsumers(RedisClient* redis, const std::string& stream,
                                        const std::string& group, const std::string& keep,
                                        absl::Duration min_idle);

class FeedConsumer {
 public:
  FeedConsumer(std::shared_ptr<RedisClient> redis, PlanStore* plans, DeviceStore* devices,
               push::PushSender* sender, FeedConsumerOptions options);

  // Runs until Stop(); then stops reading, waits for the sender to finish (the caller shuts it
  // down) and acknowledges what ended final. Entries not final stay pending for another replica.
  void Run();
  // Stop reading new entries; Run returns after the in-flight ones drained (Drain()).
  void Stop();
  // After Stop and the sender's Shutdown: acknowledges what finished. Called by Run's end too.
  void Drain();

  int tracked_entries();

 private:
  struct Tracked {
    std::string stream;
    std::string id;
    std::string user_key;
    int outstanding = 0;
    int devices = 0;
    bool incomplete = false;  // a device not sent (sender full, aborted): leave it pending
  };
  struct Done {
    std::string entry;  // stream + " " + id
    std::string device_id;
    push::Outcome outcome;
  };

  // One entry of an XREADGROUP or XAUTOCLAIM reply (both outlive the batch's handling).
  struct Read {
    const std::string* stream;
    const RedisReply* entry;
  };
  // Sends a batch's pushes: her devices and her plan fetched for the whole batch at once (two
  // pipelined round trips), entries with nothing to send acknowledged together. `claimed`: taken
  // over, so an entry's done hash is read first.
  void HandleBatch(const std::vector<Read>& reads, bool claimed);
  // Submits one entry's pushes; false when nothing is left in flight and the entry is final
  // (to be acknowledged by the caller), true when it is in flight or stays pending.
  bool Send(const std::string& stream, const std::string& id, const FeedEntry& entry,
            const std::vector<legwise::reminder::v1::Device>& devices, absl::Time quiet_start,
            const DeviceTexts& texts, bool claimed);
  void ReadNew();
  void AutoClaim();
  void Trim();
  // RefreshPending for every entry in flight.
  void RefreshInFlight();
  // Acknowledges what completed; returns how many results were handled.
  int ProcessCompletions();
  std::string DoneKey(const std::string& stream, const std::string& id) const;
  std::vector<std::string> Streams() const;

  std::shared_ptr<RedisClient> redis_;
  PlanStore* plans_;
  DeviceStore* devices_;
  push::PushSender* sender_;
  FeedConsumerOptions options_;
  Metrics* metrics_;
  std::atomic<bool> stop_{false};

  absl::Mutex mu_;
  std::deque<Done> done_ ABSL_GUARDED_BY(mu_);
  // Only the Run thread touches these.
  absl::flat_hash_map<std::string, Tracked> tracked_;
  std::atomic<int> tracked_count_{0};
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_FEED_CONSUMER_H_
