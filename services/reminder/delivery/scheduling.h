// Turning planned occurrences into scheduled entries of the due index (shared by the gRPC adapter,
// which schedules when a plan is created or changed, and the dispatcher's refill loop, which
// extends every user's horizon).
#ifndef LEGWISE_SERVICES_REMINDER_DELIVERY_SCHEDULING_H_
#define LEGWISE_SERVICES_REMINDER_DELIVERY_SCHEDULING_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/reminder/core/reminder_core.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {

// The Nudge message of an occurrence, without texts (title/body are added when it is published).
legwise::reminder::v1::Nudge NudgeFromOccurrence(const Plan& plan, const Occurrence& o);

// The due-index entry of an occurrence. Its payload also carries her plan's daily water target (an
// unknown field, number kPayloadWaterTargetField, that no client sees: TakePayloadWaterTarget
// removes it before a nudge leaves the service), so the dispatcher renders her texts without
// reading her plan.
ScheduledNudge ToScheduled(const Plan& plan, const Occurrence& o);

inline constexpr int kPayloadWaterTargetField = 1000;

// The water target carried by a payload parsed into `n` (0 = none: the rules' default), and
// removes every unknown field from `n`.
int32_t TakePayloadWaterTarget(legwise::reminder::v1::Nudge* n);

// The core's view of her stored state: snooze payloads parsed (unparsable ones left out), their
// water-target field removed.
UserState ToCoreState(const UserNudgeState& in);

// Plans [from, from + horizon) and schedules it, leaving out nudges she acknowledged or that were
// cancelled (e.g. hydration after the day's target). With `replace`, pending occurrences from
// `from` on are replaced (the plan changed). Sets her next refill to from + horizon / 2. Returns
// how many occurrences were newly scheduled.
absl::StatusOr<int> ScheduleHorizon(ReminderStore& store, const ScheduleRules& rules,
                                    const Plan& plan, absl::Time from, absl::Duration horizon,
                                    bool replace);

// After her plan changed: each pending snooze (due at or after `from`) that the new plan places
// elsewhere (e.g. in her new quiet hours) is recorded at its new time under a new id, and the old
// id cancelled so it is neither listed nor delivered. Returns the earliest due time of the moved
// snoozes (InfiniteFuture when none moved), for the due index.
absl::StatusOr<absl::Time> RelocateSnoozes(ReminderStore& store, const Plan& plan, absl::Time from);

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_DELIVERY_SCHEDULING_H_
