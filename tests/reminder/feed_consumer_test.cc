// The feed consumer's pure step: when her next quiet hours begin after a nudge's due time, on her
// wall clock (across midnight and a DST change), so a push delayed past it is dropped.
#include "gtest/gtest.h"
#include "services/reminder/feed/consumer.h"

namespace legwise::reminder {
namespace {

Plan PlanIn(const std::string& zone, int wake_minute, int sleep_minute) {
  Plan p;
  EXPECT_TRUE(absl::LoadTimeZone(zone, &p.zone));
  p.wake_minute = wake_minute;
  p.sleep_minute = sleep_minute;
  return p;
}

absl::Time At(const Plan& p, int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), p.zone);
}

TEST(NextQuietStart, SameEveningAcrossMidnightAndAlreadyQuiet) {
  Plan p = PlanIn("Europe/Madrid", 7 * 60, 23 * 60);  // quiet 23:00 -> 07:00
  EXPECT_EQ(NextQuietStart(p, At(p, 2027, 1, 15, 10, 30)), At(p, 2027, 1, 15, 23, 0));
  EXPECT_EQ(NextQuietStart(p, At(p, 2027, 1, 15, 22, 59)), At(p, 2027, 1, 15, 23, 0));
  // Due inside quiet hours (never planned so, but a snooze edge): it is quiet already.
  const absl::Time night = At(p, 2027, 1, 16, 2, 0);
  EXPECT_EQ(NextQuietStart(p, night), night);
  // Waking window across midnight: wake 14:00, sleep 02:00 (a night-shift worker).
  Plan n = PlanIn("Europe/Madrid", 14 * 60, 2 * 60);
  EXPECT_EQ(NextQuietStart(n, At(n, 2027, 1, 15, 23, 0)), At(n, 2027, 1, 16, 2, 0));
  EXPECT_EQ(NextQuietStart(n, At(n, 2027, 1, 15, 15, 0)), At(n, 2027, 1, 16, 2, 0));
}

TEST(NextQuietStart, OnHerWallClockThroughDst) {
  Plan p = PlanIn("America/New_York", 7 * 60, 22 * 60);
  // 2027-03-14 is the spring-forward day: 22:00 local is 02:00 UTC next day (EDT, UTC-4).
  EXPECT_EQ(NextQuietStart(p, At(p, 2027, 3, 14, 12, 0)),
            absl::FromCivil(absl::CivilSecond(2027, 3, 15, 2, 0, 0), absl::UTCTimeZone()));
}

}  // namespace
}  // namespace legwise::reminder
