// The reminder planner: for a validated plan and a UTC time window, the nudge occurrences, with
// stable ids, in the user's own time zone through DST changes. Also the pure "adapting" rules
// (drop hydration nudges once the day's water target is reached; where a snooze lands).
//
// Everything here is a pure function of its inputs plus an injected clock: no I/O, no global state.
//
// Model. Her "plan day" D is the waking window that starts at wake time on local date D and ends at
// sleep time (the same day, or the next day when sleep is earlier than wake). Every occurrence
// belongs to exactly one plan day; ids, the daily cap and the day's water total are per plan day.
// Positions are computed on the local wall clock (civil time) and only then turned into instants
// with the zone:
//  - a local time that does not exist (skipped by a spring-forward) moves to the transition instant
//    (absl TimeInfo::trans), i.e. the first instant after the gap;
//  - a local time that happens twice (fall-back) fires once, at its first occurrence
//  (TimeInfo::pre);
//  - two occurrences of one kind that land on the same instant are merged (the lower slot
//  survives);
//  - finally anything whose local time lies in quiet hours is dropped (a safety net: by
//  construction
//    only a spring-forward gap at the very end of a waking window can do that).
// Daily cap priority (when a day has more candidates than max_nudges_per_day): bedtime stretch
// first, then movement breaks (standing workers), then daytime stretching, then hydration; a kind
// that does not fit entirely keeps an evenly spread subset of its slots, so the ids of the kept
// ones do not change.
#ifndef LEGWISE_SERVICES_REMINDER_PLANNER_PLANNER_H_
#define LEGWISE_SERVICES_REMINDER_PLANNER_PLANNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/planner/schedule_rules.h"

namespace legwise::reminder {

// One planned nudge.
struct Occurrence {
  NudgeKind kind = NudgeKind::kHydration;
  // When it is due (UTC instant).
  absl::Time due;
  // The plan day (local date her waking window starts on) it belongs to.
  absl::CivilDay plan_day;
  // Position within the plan day and kind: hydration/stretching = index 0..n-1, bedtime = 0,
  // movement break = minutes after wake time. Snoozed one-offs use -1.
  int slot = 0;
  // Stable id from (user, kind, plan day, slot); see MakeNudgeId.
  std::string nudge_id;
  // `due` on her local wall clock, ISO-8601 with offset, e.g. "2026-03-29T09:00:00+01:00".
  std::string local_time;
};

// A stable 64-bit hash (FNV-1a + a SplitMix64 finalizer). Unlike absl::Hash it never changes
// between runs, builds or machines, so it can name things that are stored.
uint64_t StableHash64(absl::string_view data);

// The user's fixed jitter in seconds, 0..rules.max_jitter_seconds, derived from her user id.
int JitterSeconds(absl::string_view user_id, const ScheduleRules& rules);

// The id of a planned occurrence: "<kind>-<YYYYMMDD>-<slot>-<16 hex digits>", e.g.
// "hyd-20260308-3-9f86d081884c7d65", kind one of hyd/str/mov/bed. The hex part hashes the user id
// too, so ids are unique across users, and the id can be checked against its owner (ParseNudgeId).
std::string MakeNudgeId(absl::string_view user_id, NudgeKind kind, absl::CivilDay plan_day,
                        int slot);

// The id of a snoozed one-off: "snz-<kind number>-<due unix seconds>-<16 hex digits>". Snoozing to
// the same instant twice gives the same id (so it is stored and delivered once).
std::string MakeSnoozeId(absl::string_view user_id, NudgeKind kind, absl::Time due);

// What a nudge id names.
struct NudgeRef {
  NudgeKind kind = NudgeKind::kHydration;
  bool snoozed = false;
  absl::CivilDay plan_day;  // planned occurrences only
  int slot = 0;             // planned occurrences only
  absl::Time due;           // snoozed one-offs only
};

// Parses `nudge_id` and checks that it belongs to `user_id`. INVALID_ARGUMENT when malformed,
// NOT_FOUND when well-formed but not hers.
absl::StatusOr<NudgeRef> ParseNudgeId(absl::string_view user_id, absl::string_view nudge_id);

// `t` on the local wall clock of `zone` as ISO-8601 with a "+hh:mm" offset.
std::string FormatLocalTime(absl::Time t, const absl::TimeZone& zone);

// The instant of local time `cs` in `zone`: skipped times map to the transition, repeated times to
// their first occurrence.
absl::Time ResolveLocal(const absl::TimeZone& zone, absl::CivilSecond cs);

// The plan day whose waking window starts at or most recently before `t` (local date of the last
// wake time at or before `t`).
absl::CivilDay PlanDayOf(const Plan& plan, absl::Time t);

// All occurrences of one plan day, in due order, after the daily cap. Without `labels`, nudge_id
// and local_time are left empty (LabelOccurrence fills them): the dispatcher labels only the few it
// publishes, which is most of its CPU otherwise.
std::vector<Occurrence> PlanDay(const Plan& plan, const ScheduleRules& rules, absl::CivilDay day,
                                bool labels = true);

// The occurrences due in [start, end), in due order (ties: kind, then slot). Each plan day is
// planned whole and then filtered, so the answer for one instant never depends on the window asked.
// Windows longer than 400 days are cut to 400 days. `labels` as for PlanDay.
std::vector<Occurrence> PlanOccurrences(const Plan& plan, const ScheduleRules& rules,
                                        absl::Time start, absl::Time end, bool labels = true);

// The same occurrences as PlanOccurrences (unlabelled), handed to `visit` one plan day at a time
// in due order, until `visit` returns false: a caller that wants only the first few (the
// dispatcher's next due time) plans only the days it reaches. A plan day's waking window ends
// before the next one's begins, so day order is due order.
void VisitOccurrences(const Plan& plan, const ScheduleRules& rules, absl::Time start,
                      absl::Time end, absl::FunctionRef<bool(Occurrence&)> visit);

// Fills an occurrence's nudge_id and local_time from its kind, plan day, slot and due time.
void LabelOccurrence(const Plan& plan, Occurrence* o);

// The nudge ids of `day_occurrences` to drop after she logged `total_ml` for that plan day: once
// the total reaches `target_ml`, every hydration occurrence due after `now`; otherwise none.
std::vector<std::string> HydrationNudgesToDrop(const std::vector<Occurrence>& day_occurrences,
                                               int32_t total_ml, int32_t target_ml, absl::Time now);

// Where a nudge snoozed at `now` for `minutes` lands: now + minutes, unless that is inside her
// quiet hours, then her next wake time after it (resolved through DST like any planned time).
absl::Time SnoozeTarget(const Plan& plan, absl::Time now, int minutes);

// The one-off occurrence a snooze adds (kind of the snoozed nudge, due at SnoozeTarget).
Occurrence MakeSnoozeOccurrence(const Plan& plan, NudgeKind kind, absl::Time now, int minutes);

// The daily water target of a plan in ml (the plan's, or the rules' default when 0).
int32_t WaterTargetMl(const Plan& plan, const ScheduleRules& rules);

// A source of "now", injected so tests run with a fixed clock.
using Clock = std::function<absl::Time()>;

// The planner with its rules and clock, for callers that think in "from now on".
class Planner {
 public:
  explicit Planner(
      ScheduleRules rules = {}, Clock clock = [] { return absl::Now(); })
      : rules_(rules), clock_(std::move(clock)) {}

  const ScheduleRules& rules() const { return rules_; }
  absl::Time Now() const { return clock_(); }

  // Occurrences in [start, end); see PlanOccurrences.
  std::vector<Occurrence> Occurrences(const Plan& plan, absl::Time start, absl::Time end) const {
    return PlanOccurrences(plan, rules_, start, end);
  }
  // Occurrences in [now, now + horizon).
  std::vector<Occurrence> Upcoming(const Plan& plan, absl::Duration horizon) const {
    const absl::Time now = clock_();
    return PlanOccurrences(plan, rules_, now, now + horizon);
  }

 private:
  ScheduleRules rules_;
  Clock clock_;
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_PLANNER_PLANNER_H_
