// ReminderStore in process memory, for development (--memory_store) and tests: the same semantics
// as the Redis store (claim/lease/publish/reap, dedup of scheduled occurrences), nothing survives a
// restart, and only one replica can use it.
#ifndef LEGWISE_SERVICES_REMINDER_STORE_MEMORY_STORE_H_
#define LEGWISE_SERVICES_REMINDER_STORE_MEMORY_STORE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {

class MemoryReminderStore : public ReminderStore {
 public:
  // `clock` stands in for the Redis server's TIME.
  explicit MemoryReminderStore(
      int num_buckets = 4, Clock clock = [] { return absl::Now(); });

  absl::StatusOr<legwise::reminder::v1::ReminderPlan> CreatePlan(
      const legwise::reminder::v1::ReminderPlan& plan, const std::string& request_id,
      const std::string& request_hash) override;
  absl::StatusOr<legwise::reminder::v1::ReminderPlan> GetPlan(absl::string_view user_id) override;
  absl::StatusOr<legwise::reminder::v1::ReminderPlan> GetPlanByKey(
      absl::string_view user_key) override;
  absl::Status ReplacePlan(const legwise::reminder::v1::ReminderPlan& plan,
                           const std::string& expected_etag) override;
  absl::Status DeletePlan(absl::string_view user_id) override;
  absl::StatusOr<int> Schedule(absl::string_view user_id, const std::vector<ScheduledNudge>& nudges,
                               absl::Time from, bool replace, absl::Time next_refill) override;
  absl::StatusOr<int> Cancel(absl::string_view user_id,
                             const std::vector<std::string>& nudge_ids) override;
  absl::Status Acknowledge(absl::string_view user_id, const std::string& nudge_id, absl::Time due,
                           absl::Time forget_before) override;
  absl::Status AddSnooze(absl::string_view user_id, const ScheduledNudge& nudge,
                         absl::Time forget_before) override;
  absl::StatusOr<UserNudgeState> GetUserState(absl::string_view user_id) override;
  absl::StatusOr<WaterAdd> AddWater(absl::string_view user_id, absl::CivilDay day,
                                    int32_t amount_ml, int64_t max_total_ml) override;

  int num_buckets() const override { return num_buckets_; }
  absl::StatusOr<ClaimResult> Claim(int bucket, int max, const std::string& token,
                                    absl::Duration lease, absl::Duration misfire) override;
  absl::StatusOr<int> Publish(int bucket, const std::string& token,
                              const std::vector<PublishItem>& items) override;
  absl::StatusOr<int> Reap(int bucket, int max) override;
  absl::Status DropRefill(absl::string_view user_key) override;
  absl::StatusOr<std::vector<std::string>> ClaimRefills(int bucket, int max,
                                                        absl::Duration lease) override;
  absl::StatusOr<std::vector<OutboxEntry>> ReadOutbox(std::vector<std::string>* cursors, int max,
                                                      absl::Duration block) override;
  absl::Status Listen(const std::vector<std::string>& user_keys, absl::Duration ttl) override;
  absl::StatusOr<std::vector<OutboxEntry>> ReplayFeed(absl::string_view user_key,
                                                      const std::string& after, int max) override;
  absl::StatusOr<std::vector<OutboxEntry>> ReadLive(std::vector<std::string>* cursors, int max,
                                                    absl::Duration block) override;
  absl::StatusOr<std::pair<int64_t, int64_t>> Backlog() override;
  absl::Status Ping() override { return absl::OkStatus(); }

  std::vector<absl::StatusOr<std::pair<legwise::reminder::v1::ReminderPlan, UserNudgeState>>>
  GetPlansAndStatesByKey(const std::vector<std::string>& user_keys) override;
  absl::Status WakePlan(absl::string_view user_key, absl::Time due, absl::Time watermark) override;
  absl::Status WakeNewPlan(absl::string_view user_key, absl::Time due) override;
  absl::Status DropDuePlan(absl::string_view user_key) override;
  absl::StatusOr<DueClaim> ClaimDuePlans(int bucket, int max, absl::Duration lease) override;
  absl::StatusOr<CommitResult> CommitDuePlans(int bucket,
                                              const std::vector<PlanCommit>& commits) override;
  absl::StatusOr<std::pair<int64_t, int64_t>> DuePlanCount() override;
  absl::StatusOr<std::optional<Wake>> WaitWake(absl::Duration timeout) override;
  // As RedisStoreOptions::wake_within.
  void set_wake_within(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    wake_within_ = d;
  }

 private:
  struct UserData {
    legwise::reminder::v1::ReminderPlan plan;
    std::string request_id;
    std::string request_hash;
    std::map<std::string, int64_t> ack;     // nudge id -> due ms
    std::map<std::string, int64_t> cancel;  // nudge id -> when cancelled (ms)
    std::map<std::string, std::pair<int64_t, std::string>> snoozes;  // id -> (due ms, payload)
    std::map<std::string, int64_t> water;                            // day -> ml
  };
  struct Bucket {
    std::set<std::pair<int64_t, std::string>> due;                    // (due ms, member)
    std::map<std::string, int64_t> due_of;                            // member -> due ms (pending)
    std::map<std::string, std::string> payload;                       // member -> payload
    std::map<std::string, std::pair<std::string, int64_t>> inflight;  // member -> (token, due ms)
    std::map<std::string, int64_t> lease_until;                       // member -> ms
    std::map<std::string, std::map<std::string, int64_t>> scheduled;  // user key -> member -> due
    std::map<std::string, int64_t> refill;                            // user key -> ms
    // The per-plan due index.
    std::set<std::pair<int64_t, std::string>> next;  // (due ms, user key)
    std::map<std::string, int64_t> next_of;          // user key -> due ms
    std::map<std::string, int64_t> watermark;        // user key -> ms
    std::map<std::string, int64_t> fence_of;         // user key -> fence of her claim
    std::set<std::string> dirty;                     // changed while claimed
    int64_t fence = 0;
    void SetNext(const std::string& u, int64_t ms) {
      if (auto it = next_of.find(u); it != next_of.end()) next.erase({it->second, u});
      next_of[u] = ms;
      next.insert({ms, u});
    }
    // She enters the per-plan index with watermark `wm` (see WakePlan).
    void HandOver(const std::string& u, int64_t wm);
    void EraseNext(const std::string& u) {
      if (auto it = next_of.find(u); it != next_of.end()) {
        next.erase({it->second, u});
        next_of.erase(it);
      }
    }
  };
  int64_t NowMs() const { return absl::ToUnixMillis(clock_()); }
  // Leaves a wake-up for `bucket` at `ms` when that is within wake_within of now (rm:wake).
  void WakeIfSoon(int bucket, int64_t ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<OutboxEntry> ReadLog(const std::vector<OutboxEntry>& log,
                                   std::vector<std::string>* cursors, int max, absl::Duration block)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int num_buckets_;
  Clock clock_;
  absl::Mutex mu_;
  std::map<std::string, UserData> users_ ABSL_GUARDED_BY(mu_);  // by user key
  std::vector<Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  std::vector<OutboxEntry> outbox_ ABSL_GUARDED_BY(mu_);  // one log for all buckets
  std::vector<OutboxEntry> live_ ABSL_GUARDED_BY(mu_);    // outbox entries of listening users
  std::map<std::string, int64_t> listening_ ABSL_GUARDED_BY(mu_);  // user key -> until ms
  std::map<int, int64_t> wakes_ ABSL_GUARDED_BY(mu_);  // bucket -> earliest due ms (rm:wake)
  absl::Duration wake_within_ ABSL_GUARDED_BY(mu_) = absl::Seconds(10);
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_STORE_MEMORY_STORE_H_
