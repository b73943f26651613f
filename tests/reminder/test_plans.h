// Plans shared by the reminder tests.
#ifndef LEGWISE_TESTS_REMINDER_TEST_PLANS_H_
#define LEGWISE_TESTS_REMINDER_TEST_PLANS_H_

#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "legwise/reminder/v1/reminder.pb.h"

namespace legwise::reminder {

// Awake whenever the test runs: UTC, from two hours before the current hour to ten hours after it;
// hydration and stretching.
inline legwise::reminder::v1::ReminderPlan AlwaysAwakePlan(const std::string& user) {
  legwise::reminder::v1::ReminderPlan p;
  p.set_user_id(user);
  p.set_time_zone("UTC");
  const int hour = absl::ToCivilHour(absl::Now(), absl::UTCTimeZone()).hour();
  p.mutable_wake_time()->set_hours((hour + 22) % 24);
  p.mutable_sleep_time()->set_hours((hour + 10) % 24);
  p.add_kinds(legwise::reminder::v1::NUDGE_KIND_HYDRATION);
  p.add_kinds(legwise::reminder::v1::NUDGE_KIND_STRETCHING);
  return p;
}

}  // namespace legwise::reminder

#endif  // LEGWISE_TESTS_REMINDER_TEST_PLANS_H_
