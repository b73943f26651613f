// Where reminder plans, scheduled occurrences and delivered nudges live, behind one small
// interface: RedisReminderStore (production: plans survive restarts, replicas share the due index
// and claim occurrences atomically) and MemoryReminderStore (--memory_store, development and unit
// tests).
//
// Vocabulary:
//  - user key: 16 hex digits of a stable hash of the user id; Redis keys carry it instead of the
//  raw id.
//  - bucket: the due index is sharded into `num_buckets()` buckets; a user's occurrences all sit in
//    bucket UserBucket(user key), so one bucket operation covers one user atomically.
//  - member: "<user key>:<nudge id>", one scheduled occurrence in a bucket.
//  - payload: a serialized legwise.reminder.v1.Nudge without texts (filled in at publish time).
// An occurrence goes due -> (claim) in flight with a lease -> (publish) outbox, exactly once; an
// expired lease goes back to due (reap); anything older than the misfire threshold at claim time is
// skipped instead of delivered late.
#ifndef LEGWISE_SERVICES_REMINDER_STORE_REMINDER_STORE_H_
#define LEGWISE_SERVICES_REMINDER_STORE_REMINDER_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "legwise/reminder/v1/reminder.pb.h"

namespace legwise::reminder {

// How long a cancellation is remembered (its occurrence is past long before).
inline constexpr absl::Duration kCancelMemory = absl::Hours(72);

// True when feed id `a` comes before `b` ("<ms>-<seq>", compared as numbers; malformed = first).
bool FeedIdLess(absl::string_view a, absl::string_view b);

// INVALID_ARGUMENT, reason REQUEST_ID_REUSED (AIP-155).
absl::Status RequestIdReused();

// 16 hex digits naming a user in storage keys (so raw ids never appear in key names or metrics).
std::string UserKey(absl::string_view user_id);
// The bucket of a user key, 0..num_buckets-1.
int UserBucket(absl::string_view user_key, int num_buckets);
// "<user key>:<nudge id>".
std::string MemberOf(absl::string_view user_key, absl::string_view nudge_id);

// One occurrence to schedule.
struct ScheduledNudge {
  std::string nudge_id;
  absl::Time due;
  std::string payload;  // serialized v1::Nudge without title/body
};

// One occurrence claimed by a dispatcher.
struct ClaimedNudge {
  std::string member;
  int64_t due_ms = 0;
  std::string payload;
};

// What one claim returned.
struct ClaimResult {
  int64_t server_now_ms = 0;  // the store's clock (Redis TIME) at the claim
  int skipped = 0;            // older than the misfire threshold: dropped, not delivered
  std::vector<ClaimedNudge> claimed;
};

// One claimed occurrence, ready to publish (payload now carries the texts).
struct PublishItem {
  std::string member;
  std::string nudge_id;
  std::string user_key;
  std::string payload;
};

// One delivered nudge as read back from the outbox.
struct OutboxEntry {
  // Where it was published in its bucket's delivery feed: "<ms>-<seq>", ordered by FeedIdLess.
  // The same on the live log as in the outbox, so StreamNudges can resume after it.
  std::string feed_id;
  std::string nudge_id;
  std::string user_key;
  int64_t due_ms = 0;
  int64_t published_ms = 0;
  std::string payload;  // serialized v1::Nudge with texts
};

// What the service knows about a user's occurrences besides the plan.
struct UserNudgeState {
  std::vector<std::string> acknowledged;
  std::vector<std::string> cancelled;
  std::vector<std::string> snoozes;  // payloads of snoozed one-offs
};

// --- the per-plan due index ---------------------------------------------------------------------
// One entry per user: when her plan next needs the dispatcher (her next occurrence, snoozes
// included). Occurrences are not stored: the dispatcher derives the ones due since her watermark
// from plan + state and commits them with the watermark and her next due time in one atomic step.

// One user claimed from the due index. While claimed her entry is leased (it comes due again at
// the lease's end, so a dead replica's claim is taken over), and only a commit carrying `fence`
// (unique per claim) is accepted.
struct DuePlan {
  std::string user_key;
  int64_t fence = 0;
  int64_t watermark_ms = 0;  // occurrences due at or before it were published (or dropped)
};

struct DueClaim {
  int64_t server_now_ms = 0;  // the store's clock at the claim
  int64_t earliest_ms = -1;   // the bucket's earliest due time after the claim (-1: none)
  std::vector<DuePlan> plans;
};

// One occurrence to publish (payload: a serialized v1::Nudge with texts).
struct FeedItem {
  std::string nudge_id;
  int64_t due_ms = 0;
  std::string payload;
};

// What the dispatcher decided for one claimed user.
struct PlanCommit {
  std::string user_key;
  int64_t fence = 0;
  int64_t watermark_ms = 0;  // the new watermark (the claim's server_now_ms)
  int64_t next_due_ms = -1;  // her next due time; -1: she has no plan, forget her entry
  std::vector<FeedItem> items;
};

struct CommitResult {
  int published = 0;  // occurrences appended to the outbox
  int fenced = 0;     // commits refused: their claim was lost (lease taken over, plan deleted)
  int requeued = 0;   // users changed while claimed (WakePlan), made due at once instead
};
// A wake-up: a write made a user of `bucket` due at `due`, sooner than a dispatcher idle on that
// bucket would otherwise look again.
struct Wake {
  int bucket = 0;
  absl::Time due;
};

// The storage interfaces, in three parts so that each component takes only what it uses: plans and
// her nudge state (PlanStore: the API and the push sender), the per-plan due index (DueIndex: the
// dispatcher), and the delivery feed (DeliveryFeed: StreamNudges). ReminderStore is all three, as
// both implementations are; they pass one contract test suite (tests/reminder/store_test.cc).
// Every method is thread-safe. Errors: UNAVAILABLE when the store cannot be reached; NOT_FOUND /
// ALREADY_EXISTS / ABORTED as documented per method.
class PlanStore {
 public:
  virtual ~PlanStore() = default;

  // Stores a new plan. When she already has one: the stored plan if it was created with the same
  // non-empty request_id and the same `request_hash` (an idempotent retry, AIP-155);
  // INVALID_ARGUMENT (reason REQUEST_ID_REUSED) for the same request_id with another hash; else
  // ALREADY_EXISTS. Plans stored before hashes were kept match any hash.
  virtual absl::StatusOr<legwise::reminder::v1::ReminderPlan> CreatePlan(
      const legwise::reminder::v1::ReminderPlan& plan, const std::string& request_id,
      const std::string& request_hash) = 0;
  // NOT_FOUND when she has none.
  virtual absl::StatusOr<legwise::reminder::v1::ReminderPlan> GetPlan(
      absl::string_view user_id) = 0;
  // The plan stored under a user key (used by the refill loop).
  virtual absl::StatusOr<legwise::reminder::v1::ReminderPlan> GetPlanByKey(
      absl::string_view user_key) = 0;
  // GetPlanByKey for several users at once, one answer per key in order (the Redis store sends
  // them as one pipeline: one round trip for a whole batch of the push sender's feed).
  virtual std::vector<absl::StatusOr<legwise::reminder::v1::ReminderPlan>> GetPlansByKey(
      const std::vector<std::string>& user_keys) {
    std::vector<absl::StatusOr<legwise::reminder::v1::ReminderPlan>> out;
    out.reserve(user_keys.size());
    for (const std::string& k : user_keys) out.push_back(GetPlanByKey(k));
    return out;
  }
  // Replaces the plan when its current etag is `expected_etag`: NOT_FOUND when none, ABORTED when
  // the etag differs.
  virtual absl::Status ReplacePlan(const legwise::reminder::v1::ReminderPlan& plan,
                                   const std::string& expected_etag) = 0;
  // Deletes the plan, her per-user state and every pending occurrence. NOT_FOUND when none.
  virtual absl::Status DeletePlan(absl::string_view user_id) = 0;
  // Removes pending occurrences (by nudge id) and remembers them as cancelled, for
  // kCancelMemory: what is cancelled is due within a day of the call (the rest of a day's
  // hydration, a moved snooze), so older records are forgotten in the same step and her set does
  // not grow over the days. Entries still in the per-occurrence layout are removed from it.
  // Returns how many were not cancelled before (occurrences are derived: "pending" is whatever
  // the plan says and the state does not exclude).
  virtual absl::StatusOr<int> Cancel(absl::string_view user_id,
                                     const std::vector<std::string>& nudge_ids) = 0;
  // Marks a nudge (due at `due`) acknowledged and removes it from the due index if still pending.
  // Acknowledgements of occurrences due before `forget_before` are forgotten in the same step, so
  // her set holds only what lies inside the acknowledgement window.
  virtual absl::Status Acknowledge(absl::string_view user_id, const std::string& nudge_id,
                                   absl::Time due, absl::Time forget_before) = 0;
  // Records a snoozed one-off (also scheduled through Schedule by the caller); snoozes due before
  // `forget_before` are forgotten in the same step.
  virtual absl::Status AddSnooze(absl::string_view user_id, const ScheduledNudge& nudge,
                                 absl::Time forget_before) = 0;
  // Acknowledged and cancelled ids, snoozes.
  virtual absl::StatusOr<UserNudgeState> GetUserState(absl::string_view user_id) = 0;
  // GetPlan and GetUserState together (one round trip where the store can: the listing path).
  virtual absl::StatusOr<std::pair<legwise::reminder::v1::ReminderPlan, UserNudgeState>>
  GetPlanAndState(absl::string_view user_id) {
    absl::StatusOr<legwise::reminder::v1::ReminderPlan> plan = GetPlan(user_id);
    if (!plan.ok()) return plan.status();
    absl::StatusOr<UserNudgeState> state = GetUserState(user_id);
    if (!state.ok()) return state.status();
    return std::make_pair(*std::move(plan), *std::move(state));
  }
  // Adds water to a plan day's total (64 bits) unless the new total would pass `max_total_ml`;
  // atomic. Returns the total after the call, and whether the amount was refused.
  struct WaterAdd {
    int64_t total_ml = 0;
    bool refused = false;
  };
  virtual absl::StatusOr<WaterAdd> AddWater(absl::string_view user_id, absl::CivilDay day,
                                            int32_t amount_ml, int64_t max_total_ml) = 0;

  // The stored plans and states of several users (by user key), in one round trip where the
  // store can (the dispatcher's batch read). NOT_FOUND entries for users without a plan.
  virtual std::vector<
      absl::StatusOr<std::pair<legwise::reminder::v1::ReminderPlan, UserNudgeState>>>
  GetPlansAndStatesByKey(const std::vector<std::string>& user_keys) = 0;
};

class DueIndex {
 public:
  virtual ~DueIndex() = default;
  virtual int num_buckets() const = 0;

  // --- per-plan due index (see DuePlan) ---
  // Makes her entry due no later than `due`, creating it (with watermark `watermark`) when she has
  // none. While she is claimed it also marks her changed, so that claim's commit makes her due
  // again at once (it may have read her plan before this write). When this makes her due sooner,
  // and soon (the Redis store: within RedisStoreOptions::wake_within), it leaves a Wake for her
  // bucket.
  virtual absl::Status WakePlan(absl::string_view user_key, absl::Time due,
                                absl::Time watermark) = 0;
  // For a plan about to be stored (CreatePlan), in one command: makes her entry due now and
  // leaves her watermark unset; `due` is her first occurrence, and when it is soon a Wake for it
  // is left as WakePlan does. Her first claim gives her one just before her entry's due time, i.e.
  // the create (a new plan has nothing earlier), or, if she still has entries in the per-occurrence
  // layout, the claim's now, handing her over as WakePlan would. It leaves no changed mark: a claim
  // in flight sees her entry due again at its commit and makes her due at once (CommitDuePlans).
  virtual absl::Status WakeNewPlan(absl::string_view user_key, absl::Time due) = 0;
  // Forgets her entry and watermark (her plan was deleted); a claim in flight is fenced off.
  virtual absl::Status DropDuePlan(absl::string_view user_key) = 0;
  // Atomically claims up to `max` users of `bucket` due at the store's now, each leased for
  // `lease` under a new fence.
  virtual absl::StatusOr<DueClaim> ClaimDuePlans(int bucket, int max, absl::Duration lease) = 0;
  // Atomically per user, only while her claim's fence is current: appends her items to the outbox
  // (and the live log when someone listens for her), sets her watermark and next due time
  // (or forgets her on next_due_ms == -1), and ends the claim. A user changed while claimed
  // (WakePlan), or whose entry is due by now (WakeNewPlan, or her lease ran out), is made due at
  // once instead.
  virtual absl::StatusOr<CommitResult> CommitDuePlans(int bucket,
                                                      const std::vector<PlanCommit>& commits) = 0;
  // Users in the per-plan due index, and how many of them are claimed. For tests and metrics.
  virtual absl::StatusOr<std::pair<int64_t, int64_t>> DuePlanCount() = 0;
  // Takes one Wake, waiting up to `timeout` (the Redis store: at most 4/5 of its command timeout)
  // when there is none; nullopt when none came. Each Wake reaches one waiter, on any replica: an
  // idle dispatcher waits on these instead of polling its buckets.
  virtual absl::StatusOr<std::optional<Wake>> WaitWake(absl::Duration timeout) = 0;

  // --- the previous per-occurrence layout: drained, handed over, never grown (Schedule writes it
  // only for tests and the upgrade path) ---
  // Adds occurrences to her bucket's due index. With `replace`, her pending occurrences due at or
  // after `from` are removed first (a changed plan). An occurrence already scheduled (pending, in
  // flight or delivered within the retention) is never added twice. `next_refill` is when the
  // refill loop should extend her horizon (InfinitePast = leave as is).
  virtual absl::StatusOr<int> Schedule(absl::string_view user_id,
                                       const std::vector<ScheduledNudge>& nudges, absl::Time from,
                                       bool replace, absl::Time next_refill) = 0;
  // Atomically moves up to `max` due occurrences (due <= the store's now) of `bucket` to in flight
  // with a lease owned by `token`; occurrences older than `misfire` are skipped.
  virtual absl::StatusOr<ClaimResult> Claim(int bucket, int max, const std::string& token,
                                            absl::Duration lease, absl::Duration misfire) = 0;
  // Atomically, for each item still leased by `token`: appends it to the outbox and forgets it.
  // Returns how many were published (an item whose lease was lost is not).
  virtual absl::StatusOr<int> Publish(int bucket, const std::string& token,
                                      const std::vector<PublishItem>& items) = 0;
  // Returns up to `max` expired leases of `bucket` to the due index. Returns how many.
  virtual absl::StatusOr<int> Reap(int bucket, int max) = 0;
  // Forgets a user's refill entry (her plan is gone).
  virtual absl::Status DropRefill(absl::string_view user_key) = 0;
  // Users of `bucket` whose horizon needs extending; each is leased for `lease` to this caller.
  virtual absl::StatusOr<std::vector<std::string>> ClaimRefills(int bucket, int max,
                                                                absl::Duration lease) = 0;
  // Pending occurrences (due, not claimed) and claims in flight over all buckets. For tests and
  // metrics.
  virtual absl::StatusOr<std::pair<int64_t, int64_t>> Backlog() = 0;
};

class DeliveryFeed {
 public:
  virtual ~DeliveryFeed() = default;
  virtual int num_buckets() const = 0;

  // Reads outbox entries after `cursors` (one per bucket; "" = only entries from now on), waiting
  // up to `block` when there are none, and advances the cursors.
  virtual absl::StatusOr<std::vector<OutboxEntry>> ReadOutbox(std::vector<std::string>* cursors,
                                                              int max, absl::Duration block) = 0;
  // --- live delivery (StreamNudges) ---
  // Marks users (by user key) as having an open stream on some replica until `ttl` from now (the
  // store's clock); refresh before it runs out. While marked, what Publish delivers for them is
  // also appended to the live log, so replicas follow only nudges someone is waiting for, not the
  // whole outbox.
  virtual absl::Status Listen(const std::vector<std::string>& user_keys, absl::Duration ttl) = 0;
  // What was published for a user (by user key) after feed id `after`, in feed order, at most
  // `max` entries (the outbox keeps at least its retention: RedisStoreOptions::outbox_max_len).
  virtual absl::StatusOr<std::vector<OutboxEntry>> ReplayFeed(absl::string_view user_key,
                                                              const std::string& after,
                                                              int max) = 0;
  // ReadOutbox over the live log.
  virtual absl::StatusOr<std::vector<OutboxEntry>> ReadLive(std::vector<std::string>* cursors,
                                                            int max, absl::Duration block) = 0;
};

class ReminderStore : public PlanStore, public DueIndex, public DeliveryFeed {
 public:
  // The due index and the feed are sharded over the same buckets.
  int num_buckets() const override = 0;
  // OK when the store is reachable.
  virtual absl::Status Ping() = 0;
  // A new plan with her due entry: WakeNewPlan(UserKey(plan.user_id()), first_due), then
  // CreatePlan, in that order, so that a create that dies half-way leaves at most an entry with no
  // plan (which her first claim forgets), never a plan that is never due. Answers as CreatePlan.
  // The Redis store does both in one script on a single Redis: never the plan without the entry.
  virtual absl::StatusOr<legwise::reminder::v1::ReminderPlan> CreateDuePlan(
      const legwise::reminder::v1::ReminderPlan& plan, const std::string& request_id,
      const std::string& request_hash, absl::Time first_due) {
    if (absl::Status s = WakeNewPlan(UserKey(plan.user_id()), first_due); !s.ok()) return s;
    return CreatePlan(plan, request_id, request_hash);
  }
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_STORE_REMINDER_STORE_H_
