// ReminderStore on Redis (through the shared RedisClient), laid out for Redis Cluster:
//
//   per user (hash tag {u<user key>}, one slot):
//     rm:{u<k>}:plan         hash: data (serialized ReminderPlan), etag, req (create request id)
//     rm:{u<k>}:state        zset, her whole nudge state in one key (one read), in three score
//                            lanes of kStateLane each: "a:<nudge id>" acknowledged -> its due ms;
//                            "s:<payload>" a snooze -> kStateLane + its due ms; "c:<nudge id>"
//                            cancelled -> 2 * kStateLane + when cancelled. Each write drops what
//                            its lane no longer needs (acknowledgements and snoozes before the
//                            caller's forget_before, cancellations older than kCancelMemory);
//                            expires 15 days after the last write
//     rm:{u<k>}:water:<day>  the day's water total in ml, capped by a script (expires after 8 days)
//     rm:{u<k>}:acks, :cancels, :snoozes (zsets, one per kind) and before them :ack, :cancel,
//                            :snooze (unbounded sets / hash): earlier layouts, read while they
//                            exist (an EXISTS beside the state read tells), deleted with the plan,
//                            never written; they expire 15 days after their last write
//   per bucket b (hash tag {b<b>}, one slot; a user's entries all live in UserBucket(k)).
//   The per-plan due index (:next, :wm, :lease, :dirty, :fence) is what this version writes;
//   :due, :pay, :leases, :claim:<t>, :refill and :u:<k> are the per-occurrence layout of the
//   previous version, only drained (published, reaped) and handed over (WakePlan), never grown:
//     rm:{b<b>}:due         zset member -> due unix ms             (the old due index)
//     rm:{b<b>}:pay         hash member -> payload
//     rm:{b<b>}:leases      zset lease token -> lease expiry unix ms (one entry per claim)
//     rm:{b<b>}:claim:<t>   hash member -> due ms: the occurrences in flight under token t
//     rm:{b<b>}:outbox      stream: nudge_id, user, due_ms, pub_ms, nudge (consumer group "push")
//     rm:{b<b>}:refill      zset user key -> when to extend her horizon
//     rm:{b<b>}:listen      zset user key -> until when some replica has a stream open for her
//     rm:{b<b>}:live        stream: the outbox entries of listening users (StreamNudges)
//     rm:{b<b>}:next        zset user key -> when her plan is next due (her next occurrence,
//                           snoozes included), or her claim's lease end while claimed
//     rm:{b<b>}:wm          hash user key -> watermark ms: occurrences due until then are done
//     rm:{b<b>}:lease       hash user key -> fence of the claim holding her
//     rm:{b<b>}:dirty       hash user key -> 1: changed while claimed (due again at the commit)
//     rm:{b<b>}:fence       counter: one fence per claim
//     rm:{b<b>}:u:<k>       zset member -> due ms: every occurrence scheduled for user k (pending,
//                           in flight or delivered) kept for `retention`, so none is scheduled
//                           twice
// Every multi-key change is one Lua script on one slot, so it is atomic; claim, publish and reap
// read the server's TIME, never a replica's clock.
#ifndef LEGWISE_SERVICES_REMINDER_STORE_REDIS_STORE_H_
#define LEGWISE_SERVICES_REMINDER_STORE_REDIS_STORE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "services/common/redis_client.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {

struct RedisStoreOptions {
  // Buckets of the due index. Changing it moves users between buckets: keep it fixed per
  // deployment.
  int num_buckets = 16;
  // Approximate length cap of each bucket's outbox stream (XADD MAXLEN ~).
  int outbox_max_len = 1000000;
  // Approximate length cap of each bucket's live stream (replicas read only its newest entries).
  int live_max_len = 10000;
  // How long a scheduled occurrence is remembered (so a refill never schedules it again).
  absl::Duration retention = absl::Hours(72);
  // WakePlan leaves a wake-up (rm:wake) only when it makes her due sooner and within this of now:
  // a dispatcher idle on her bucket looks again at least this often anyway (set it to the
  // dispatcher's max_idle_wait).
  absl::Duration wake_within = absl::Seconds(10);
};

class RedisReminderStore : public ReminderStore {
 public:
  RedisReminderStore(std::shared_ptr<RedisClient> redis, RedisStoreOptions options = {});

  // Creates the "push" consumer group on every outbox stream (idempotent). Call once at start; a
  // failure (Redis down) is harmless: it is retried by the next call.
  absl::Status EnsureOutboxGroups();

  absl::StatusOr<legwise::reminder::v1::ReminderPlan> CreatePlan(
      const legwise::reminder::v1::ReminderPlan& plan, const std::string& request_id,
      const std::string& request_hash) override;
  absl::StatusOr<legwise::reminder::v1::ReminderPlan> CreateDuePlan(
      const legwise::reminder::v1::ReminderPlan& plan, const std::string& request_id,
      const std::string& request_hash, absl::Time first_due) override;
  absl::StatusOr<legwise::reminder::v1::ReminderPlan> GetPlan(absl::string_view user_id) override;
  absl::StatusOr<legwise::reminder::v1::ReminderPlan> GetPlanByKey(
      absl::string_view user_key) override;
  std::vector<absl::StatusOr<legwise::reminder::v1::ReminderPlan>> GetPlansByKey(
      const std::vector<std::string>& user_keys) override;
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
  absl::StatusOr<std::pair<legwise::reminder::v1::ReminderPlan, UserNudgeState>> GetPlanAndState(
      absl::string_view user_id) override;
  absl::StatusOr<WaterAdd> AddWater(absl::string_view user_id, absl::CivilDay day,
                                    int32_t amount_ml, int64_t max_total_ml) override;

  int num_buckets() const override { return options_.num_buckets; }
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
  absl::Status Ping() override { return redis_->Ping(); }

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

  // Width of one score lane of rm:{u<k>}:state (unix ms stay far below it).
  static constexpr int64_t kStateLane = 100'000'000'000'000;

  // Key names (exposed for tests and the push gateway).
  static std::string StateKey(absl::string_view user_key);
  static std::string OutboxKey(int bucket);
  static std::string DueKey(int bucket);
  static std::string LeasesKey(int bucket);
  static std::string LiveKey(int bucket);
  static std::string NextKey(int bucket);

 private:
  // Whether a write making her due at `due` leaves a Wake for her bucket (WakePlan's script
  // decides the same on Redis's clock).
  bool WakeSoon(absl::Time due, absl::Time now) const { return due < now + options_.wake_within; }
  // Their nudge states, and their plans when `with_plan` (NOT_FOUND for one without), one answer
  // per user key in order: one round trip, and one more for those whose state is still (partly) in
  // an earlier layout.
  std::vector<absl::StatusOr<std::pair<legwise::reminder::v1::ReminderPlan, UserNudgeState>>>
  ReadUsers(const std::vector<std::string>& user_keys, bool with_plan);
  // The reads of ReadUsers for one user: her plan (when `with_plan`), her state, and an EXISTS over
  // the earlier layouts' keys; ParseUserReplies sets *earlier when that found any.
  static std::vector<std::vector<std::string>> UserReadCommands(absl::string_view user_key,
                                                                bool with_plan);
  static absl::StatusOr<std::pair<legwise::reminder::v1::ReminderPlan, UserNudgeState>>
  ParseUserReplies(const RedisReply* replies, bool with_plan, bool* earlier);
  // Adds what the earlier layouts' keys hold for each of `user_keys` (one round trip for all).
  absl::Status ReadEarlierState(const std::vector<std::string>& user_keys,
                                const std::vector<UserNudgeState*>& states);
  // ZADD of one entry in her state's `lane`, dropping that lane's entries scored below
  // `forget_below`; returns ZADD's reply (1: new).
  absl::StatusOr<int64_t> AddState(absl::string_view user_key,
                                   const std::vector<std::pair<int64_t, std::string>>& entries,
                                   int lane, int64_t forget_below);
  // XREAD over one stream per bucket (`key_of`), from `cursors` ("" = from its current end).
  absl::StatusOr<std::vector<OutboxEntry>> ReadStreams(std::string (*key_of)(int),
                                                       std::vector<std::string>* cursors, int max,
                                                       absl::Duration block);

  std::shared_ptr<RedisClient> redis_;
  RedisStoreOptions options_;
  std::atomic<bool> groups_ready_{false};  // EnsureOutboxGroups succeeded once
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_STORE_REDIS_STORE_H_
