// A reminder plan in the form the planner computes with, and the validation that turns the public
// legwise.reminder.v1.ReminderPlan message into it. Pure: no I/O besides reading the system's time
// zone database through absl::LoadTimeZone.
#ifndef LEGWISE_SERVICES_REMINDER_PLANNER_PLAN_H_
#define LEGWISE_SERVICES_REMINDER_PLANNER_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/validation.h"
#include "services/reminder/planner/nudge_kinds.h"

namespace legwise::reminder {

// Bounds of the plan fields (also documented in reminder.proto).
inline constexpr int kMaxUserIdLength = 128;
inline constexpr int kMaxTimeZoneLength = 64;
inline constexpr int kMaxLocaleLength = 35;
inline constexpr int kMaxWorkShifts = 14;
inline constexpr int kMinWaterTargetMl = 500;
inline constexpr int kMaxWaterTargetMl = 6000;
inline constexpr int kMaxNudgesPerDayLimit = 48;
inline constexpr int kMinutesPerDay = 24 * 60;

// A work shift in local wall-clock minutes. end < start means it ends the next day.
struct Shift {
  // Bit d (0 = Monday ... 6 = Sunday) set when the shift starts on that weekday.
  uint8_t days_mask = 0;
  int start_minute = 0;  // minutes after local midnight, 0..1439
  int end_minute = 0;    // minutes after local midnight, 0..1439, != start_minute
  bool standing = false;
};

// A validated plan. Wall-clock times are minutes after local midnight.
struct Plan {
  std::string user_id;
  std::string time_zone_name;
  absl::TimeZone zone;
  int wake_minute = 0;
  int sleep_minute = 0;  // != wake_minute; quiet hours are [sleep, wake) and may span midnight
  bool hydration = false;
  bool stretching = false;
  bool movement_break = false;
  bool bedtime_stretch = false;
  int32_t water_target_ml = 0;     // 0 = the rules' default
  int32_t max_nudges_per_day = 0;  // 0 = the rules' default
  std::vector<Shift> shifts;
  std::string locale;  // "" = "en"

  // Length of the waking window in minutes, 1..1439.
  int WakingMinutes() const {
    return (sleep_minute - wake_minute + kMinutesPerDay) % kMinutesPerDay;
  }
  // True when the plan asks for this kind of nudge.
  bool Wants(NudgeKind kind) const;
  // True when local minute-of-day `minute` (0..1439) lies inside the quiet hours [sleep, wake).
  bool IsQuietMinute(int minute) const {
    return (minute - wake_minute + kMinutesPerDay) % kMinutesPerDay >= WakingMinutes();
  }
  // True when instant `t` falls inside her quiet hours, judged on her local wall clock.
  bool IsQuiet(absl::Time t) const;
};

// True when `user_id` is 1..128 characters of [A-Za-z0-9._:@-].
bool IsValidUserId(absl::string_view user_id);

// Checks every field of `plan` and records one violation per problem under `prefix` (e.g. "plan"),
// giving AIP-193 paths like "plan.wake_time.hours" or "plan.work_shifts[1].days[0]". The time zone
// is checked by loading it (absl::LoadTimeZone's return value), after rejecting names that are not
// IANA-shaped ("localtime", paths, fixed offsets). Server-set fields (etag, times) are not checked.
void ValidatePlan(const legwise::reminder::v1::ReminderPlan& plan, absl::string_view prefix,
                  FieldViolations* violations);

// Validates `plan` (paths under "plan") and converts it. INVALID_ARGUMENT with field violations on
// any problem.
absl::StatusOr<Plan> PlanFromProto(const legwise::reminder::v1::ReminderPlan& plan);

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_PLANNER_PLAN_H_
