// The reminder core: every rule of the reminder service, as pure functions of a plan validated
// once, her sparse state and "now". No gRPC, no Redis, no clock: the adapter (reminder_service.cc)
// validates requests, reads and writes the store, calls this, and maps the answers.
//
// Rules kept here:
//  - a new or replaced plan: validated once into a ValidPlan (the stored proto with server-set
//    times and etag, plus its parsed Plan), the etag check of an update;
//  - listing: occurrences derived from the plan for a window, minus cancelled ones, plus pending
//    snoozes, in (due, id) order, paged with signed page tokens;
//  - acknowledgements only for occurrences of her own schedule within a window around now;
//  - at most `max_pending_snoozes` snoozes ahead of now;
//  - water: at most `max_water_per_day_ml` a plan day (64-bit totals), and which hydration nudges
//    to drop once the target is reached.
// Each refusal is INVALID_ARGUMENT (bad input) or FAILED_PRECONDITION (a limit of her state),
// naming the field or the limit in an ErrorInfo reason.
#ifndef LEGWISE_SERVICES_REMINDER_CORE_REMINDER_CORE_H_
#define LEGWISE_SERVICES_REMINDER_CORE_REMINDER_CORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/page_token.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/planner/schedule_rules.h"

namespace legwise::reminder {

// The per-user bounds (issue 14). Every one is also in README.md's security section.
struct ReminderLimits {
  // An acknowledgement names an occurrence due within [now - ack_past, now + ack_future].
  absl::Duration ack_past = absl::Hours(48);
  absl::Duration ack_future = absl::Hours(24);
  // Snoozes due after now, at most.
  int max_pending_snoozes = 16;
  // Water logged for one plan day, at most (ml). 10 litres is far above any plausible intake.
  int64_t max_water_per_day_ml = 10000;
  // A listing window, at most.
  absl::Duration max_list_window = absl::Hours(24 * 14);
  int default_page_size = 50;
  int max_page_size = 200;
};

// A plan as stored (proto with etag and times) and its parsed form, validated once.
struct ValidPlan {
  legwise::reminder::v1::ReminderPlan proto;
  Plan plan;
};

// Her state besides the plan, as the core reads it.
struct UserState {
  std::vector<std::string> acknowledged;
  std::vector<std::string> cancelled;
  // Snoozed one-offs (Nudge without texts).
  std::vector<legwise::reminder::v1::Nudge> snoozes;
};

// A listing request after field checks.
struct ListQuery {
  bool has_start = false;
  absl::Time start;
  bool has_end = false;
  absl::Time end;
  int32_t page_size = 0;
  std::string page_token;
};

// What LogWater decided.
struct WaterResult {
  int64_t total_ml = 0;
  int32_t target_ml = 0;
  bool target_reached = false;
  // Hydration nudges of that plan day to drop now.
  std::vector<std::string> drop;
};

// What the dispatcher does for one claimed plan: the occurrences due in (watermark, now] that are
// neither acknowledged nor cancelled (snoozes included), split into those to publish and those
// older than the misfire threshold (dropped, counted), and when her plan is next due.
struct DueWork {
  std::vector<legwise::reminder::v1::Nudge> publish;  // no texts, in (due, id) order
  int misfired = 0;
  // Her next occurrence after now; when none lies within a day, a re-check a day from now.
  absl::Time next_due;
};
// `not_before`: occurrences of the plan itself due before it are not hers to deliver (the plan's
// update time: a changed plan does not send what its new schedule placed in the past). Snoozes are
// delivered whatever it is. Pure: the same arguments give the same nudge ids, which is what makes a
// claim taken over after a replica died publish exactly what the dead one would have.
DueWork DueForDispatch(const Plan& plan, const ScheduleRules& rules, const UserState& state,
                       absl::Time watermark, absl::Time now, absl::Duration misfire,
                       absl::Time not_before);

class ReminderCore {
 public:
  // `tokens` signs page tokens; it must outlive the core.
  ReminderCore(ScheduleRules rules, ReminderLimits limits, const PageTokenSigner* tokens)
      : rules_(rules), limits_(limits), tokens_(tokens) {}

  const ScheduleRules& rules() const { return rules_; }
  const ReminderLimits& limits() const { return limits_; }

  // Validates a client's plan (paths under "plan") and makes the stored form: server-set create
  // and update times, a fresh etag. INVALID_ARGUMENT (reason INVALID_REMINDER_PLAN) on any problem.
  absl::StatusOr<ValidPlan> NewPlan(const legwise::reminder::v1::ReminderPlan& in,
                                    absl::Time now) const;
  // The replacement of `current` by `next` (from NewPlan, carrying the client's etag in
  // `client_etag`): ABORTED when client_etag is set and is not current's; create_time is kept.
  absl::StatusOr<ValidPlan> ReplacePlan(const ValidPlan& next, absl::string_view client_etag,
                                        const legwise::reminder::v1::ReminderPlan& current,
                                        absl::Time now) const;
  // A stored plan parsed. It was validated when it was stored: a failure is INTERNAL.
  static absl::StatusOr<ValidPlan> FromStored(legwise::reminder::v1::ReminderPlan stored);

  // The listing window of a query (with its page token): INVALID_ARGUMENT naming the field.
  // Returns the window and the cursor to resume after.
  struct Window {
    absl::Time start, end;
    bool has_cursor = false;
    absl::Time last_due;
    std::string last_id;
  };
  // True when `token` is a page token this service issued to `user_id`.
  bool IsHerPageToken(absl::string_view token, absl::string_view user_id) const;
  absl::StatusOr<Window> ListWindow(const ListQuery& q, const std::string& user_id,
                                    absl::Time now) const;
  // One page of her nudges in `w` (texts not filled), and the next page token ("" on the last).
  std::vector<legwise::reminder::v1::Nudge> List(const ValidPlan& plan, const UserState& state,
                                                 const Window& w, int32_t page_size,
                                                 std::string* next_page_token) const;

  // Checks that `nudge_id` may be acknowledged now: it must name an occurrence of her schedule (or
  // one of her snoozes) due within the acknowledgement window. Returns its due time.
  // INVALID_ARGUMENT for a malformed id, NOT_FOUND for an id not hers or not in her schedule,
  // FAILED_PRECONDITION (reason ACK_WINDOW) outside the window.
  absl::StatusOr<absl::Time> CheckAcknowledge(const ValidPlan& plan, const UserState& state,
                                              absl::string_view nudge_id, absl::Time now) const;

  // The one-off a snooze of `nudge_id` at `now` adds. FAILED_PRECONDITION (reason
  // SNOOZE_LIMIT) when she already has max_pending_snoozes ahead of now.
  absl::StatusOr<Occurrence> Snooze(const ValidPlan& plan, const UserState& state,
                                    absl::string_view nudge_id, int minutes, absl::Time now) const;
  // How many of her snoozes are still ahead of `now`.
  static int PendingSnoozes(const UserState& state, absl::Time now);

  // Refuses an amount that would take the plan day's total above the daily cap:
  // FAILED_PRECONDITION (reason WATER_DAILY_CAP).
  absl::Status CheckWater(int64_t total_before_ml, int32_t amount_ml) const;
  // What a new total means for the day.
  WaterResult AfterWater(const ValidPlan& plan, absl::CivilDay day, int64_t total_ml,
                         absl::Time now) const;

  // Her plan's daily water target.
  int32_t WaterTarget(const Plan& plan) const { return WaterTargetMl(plan, rules_); }

  // The hash kept with a created plan's request_id (AIP-155): the same id with another request is
  // an error. Server-set plan fields (etag, times) are left out: the API ignores them.
  static std::string RequestHash(const legwise::reminder::v1::CreateReminderPlanRequest& req);

  // The Nudge of an occurrence (no texts).
  static legwise::reminder::v1::Nudge ToNudge(const Plan& plan, const Occurrence& o);

 private:
  ScheduleRules rules_;
  ReminderLimits limits_;
  const PageTokenSigner* tokens_;
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_CORE_REMINDER_CORE_H_
