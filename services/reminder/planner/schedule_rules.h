// The scheduling rules of legwise reminders, kept as one reviewable table of numbers.
//
// A clinician (or product owner) changes how often a pregnant user is nudged by editing the
// defaults below; every number says where it comes from. The planner takes a ScheduleRules value,
// so tests can also inject other rules. Nothing here is per-user: per-user settings live in the
// ReminderPlan.
#ifndef LEGWISE_SERVICES_REMINDER_PLANNER_SCHEDULE_RULES_H_
#define LEGWISE_SERVICES_REMINDER_PLANNER_SCHEDULE_RULES_H_

#include <cstdint>

namespace legwise::reminder {

// How the planner turns a plan into a day of nudges. All durations are in local wall-clock minutes
// (or seconds where named so) measured inside the user's waking window (wake time -> sleep time).
struct ScheduleRules {
  // Daily drinks target when the plan says 0: 2300 ml. EFSA 2010 adequate intake for pregnancy is
  // about 2.3 L/day total water; IOM 2004 gives about 2.3 L/day from drinks
  // (clinical-knowledge.md).
  int32_t default_water_target_ml = 2300;
  // One hydration nudge = one glass. 250 ml is a common glass and keeps nudges to about 10 a day.
  int32_t glass_ml = 250;
  // Hydration nudges start this long after waking...
  int32_t hydration_start_after_wake_min = 30;
  // ...and stop this long before sleep, so drinking late does not add night-time trips to the
  // toilet.
  int32_t hydration_stop_before_sleep_min = 60;
  // When the waking window is too short for the margins above (less than this many minutes per
  // glass), hydration is spread over the whole waking window instead.
  int32_t hydration_min_spacing_min = 15;

  // Calf stretches and ankle rotations "several times a day" (seed article; NICE CKS leg cramps):
  // three, at a quarter, half and three quarters of the waking window.
  int32_t daytime_stretches = 3;
  // The bedtime stretch comes this long before sleep (cramps are mostly at night, Cochrane
  // CD010655).
  int32_t bedtime_stretch_before_sleep_min = 30;

  // Movement breaks inside standing work shifts: one every 50 minutes (the issue asks for every
  // 45-60 minutes; long standing makes cramps and swelling worse, seed article).
  int32_t movement_break_interval_min = 50;
  // No movement break in the last minutes of a shift: she is about to stop standing anyway.
  int32_t movement_break_end_margin_min = 10;

  // max_nudges_per_day when the plan says 0.
  int32_t default_max_nudges_per_day = 24;

  // Every user gets a fixed offset of 0..max_jitter_seconds, derived from the user id, added to all
  // of her nudges, so a million users who all wake at 08:00 are spread over ten minutes instead of
  // one second. The offset never moves a nudge out of her waking window (it is applied backwards
  // instead).
  int32_t max_jitter_seconds = 599;
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_PLANNER_SCHEDULE_RULES_H_
