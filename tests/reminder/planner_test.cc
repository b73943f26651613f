// Planner tests with a fixed clock: DST days worked out by hand, and property tests over many zones
// and thousands of random plans (seeded PRNG, so a failure reproduces).
#include "services/reminder/planner/planner.h"

#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/planner/schedule_rules.h"

namespace legwise::reminder {
namespace {

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(name, &tz)) << name;
  return tz;
}

Plan MakePlan(const std::string& zone, int wake_h, int wake_m, int sleep_h, int sleep_m) {
  Plan p;
  p.user_id = "test-user";
  p.time_zone_name = zone;
  p.zone = Zone(zone);
  p.wake_minute = wake_h * 60 + wake_m;
  p.sleep_minute = sleep_h * 60 + sleep_m;
  return p;
}

ScheduleRules NoJitter() {
  ScheduleRules r;
  r.max_jitter_seconds = 0;
  return r;
}

absl::Time Utc(int y, int mo, int d, int h, int mi, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

std::vector<Occurrence> OfKind(const std::vector<Occurrence>& occ, NudgeKind kind) {
  std::vector<Occurrence> out;
  for (const auto& o : occ) {
    if (o.kind == kind) out.push_back(o);
  }
  return out;
}

// --- an ordinary day, by hand
// ---------------------------------------------------------------------

TEST(Planner, OrdinaryDayInUtcByHand) {
  Plan p = MakePlan("UTC", 7, 0, 22, 30);
  p.hydration = p.stretching = p.bedtime_stretch = true;
  const auto occ = PlanDay(p, NoJitter(), absl::CivilDay(2026, 6, 10));
  // 2300 ml / 250 ml = 10 glasses (2500 ml), 3 stretches, 1 bedtime stretch.
  ASSERT_EQ(occ.size(), 14u);
  const auto hyd = OfKind(occ, NudgeKind::kHydration);
  ASSERT_EQ(hyd.size(), 10u);
  // From wake + 30 min (07:30) to sleep - 60 min (21:30), evenly: 14 h / 9 apart.
  EXPECT_EQ(hyd.front().due, Utc(2026, 6, 10, 7, 30));
  EXPECT_EQ(hyd.back().due, Utc(2026, 6, 10, 21, 30));
  EXPECT_EQ(hyd[3].due, Utc(2026, 6, 10, 7, 30) + absl::Seconds(14 * 3600 * 3 / 9));
  const auto str = OfKind(occ, NudgeKind::kStretching);
  ASSERT_EQ(str.size(), 3u);
  // Waking window 15.5 h: quarter points.
  EXPECT_EQ(str[0].due, Utc(2026, 6, 10, 10, 52, 30));
  EXPECT_EQ(str[1].due, Utc(2026, 6, 10, 14, 45));
  EXPECT_EQ(str[2].due, Utc(2026, 6, 10, 18, 37, 30));
  const auto bed = OfKind(occ, NudgeKind::kBedtimeStretch);
  ASSERT_EQ(bed.size(), 1u);
  EXPECT_EQ(bed[0].due, Utc(2026, 6, 10, 22, 0));
  EXPECT_EQ(bed[0].local_time, "2026-06-10T22:00:00+00:00");
  for (size_t i = 1; i < occ.size(); ++i) EXPECT_LE(occ[i - 1].due, occ[i].due);
}

TEST(Planner, WaterTargetSetsGlassCount) {
  Plan p = MakePlan("UTC", 7, 0, 22, 0);
  p.hydration = true;
  p.water_target_ml = 3000;
  EXPECT_EQ(PlanDay(p, NoJitter(), absl::CivilDay(2026, 1, 5)).size(), 12u);
  p.water_target_ml = 2100;  // 8.4 glasses -> 9, so the target is reached
  EXPECT_EQ(PlanDay(p, NoJitter(), absl::CivilDay(2026, 1, 5)).size(), 9u);
}

TEST(Planner, NightOwlWindowSpansMidnightAndBelongsToStartDay) {
  Plan p = MakePlan("UTC", 14, 0, 2, 0);  // awake 14:00 -> 02:00 next day
  p.bedtime_stretch = true;
  const auto occ = PlanDay(p, NoJitter(), absl::CivilDay(2026, 6, 10));
  ASSERT_EQ(occ.size(), 1u);
  EXPECT_EQ(occ[0].due, Utc(2026, 6, 11, 1, 30));
  EXPECT_EQ(occ[0].plan_day, absl::CivilDay(2026, 6, 10));
  EXPECT_EQ(occ[0].nudge_id.substr(0, 13), "bed-20260610-");
}

TEST(Planner, MovementBreaksInsideStandingShiftsOnly) {
  Plan p = MakePlan("UTC", 6, 0, 22, 0);
  p.movement_break = true;
  p.shifts.push_back({/*days_mask=*/1u << 2, 9 * 60, 13 * 60, /*standing=*/true});    // Wed
  p.shifts.push_back({/*days_mask=*/1u << 2, 14 * 60, 18 * 60, /*standing=*/false});  // sitting
  const auto wed = PlanDay(p, NoJitter(), absl::CivilDay(2026, 6, 10));               // a Wednesday
  // 09:50, 10:40, 11:30, 12:20 (13:10 is after the end margin 12:50).
  ASSERT_EQ(wed.size(), 4u);
  EXPECT_EQ(wed[0].due, Utc(2026, 6, 10, 9, 50));
  EXPECT_EQ(wed[3].due, Utc(2026, 6, 10, 12, 20));
  EXPECT_TRUE(PlanDay(p, NoJitter(), absl::CivilDay(2026, 6, 11)).empty());  // Thursday
}

TEST(Planner, OverlappingShiftsAreMerged) {
  Plan p = MakePlan("UTC", 6, 0, 23, 0);
  p.movement_break = true;
  p.shifts.push_back({1u << 2, 9 * 60, 12 * 60, true});
  p.shifts.push_back({1u << 2, 11 * 60, 14 * 60, true});
  const auto occ = PlanDay(p, NoJitter(), absl::CivilDay(2026, 6, 10));
  // One merged shift 09:00-14:00: 09:50 10:40 11:30 12:20 13:10 (no pair closer than 50 min).
  ASSERT_EQ(occ.size(), 5u);
  for (size_t i = 1; i < occ.size(); ++i) EXPECT_EQ(occ[i].due - occ[i - 1].due, absl::Minutes(50));
}

// --- DST days, by hand ---------------------------------------------------------------------------

// A night worker: awake 20:00 -> 08:00, standing shift starting Saturday 22:00 until 06:00.
Plan NightWorker(const std::string& zone, int shift_start_h, int shift_start_m) {
  Plan p = MakePlan(zone, 20, 0, 8, 0);
  p.movement_break = true;
  p.shifts.push_back({1u << 5, shift_start_h * 60 + shift_start_m, 6 * 60, true});
  return p;
}

TEST(PlannerDst, NewYorkSpringForwardMovesSkippedTimeToTransition) {
  // 2026-03-08 02:00 EST -> 03:00 EDT. Breaks at 22:50 23:40 00:30 01:20 02:10 03:00 03:50 04:40
  // 05:30; 02:10 does not exist and moves to the transition (07:00Z = 03:00 EDT), where it meets
  // the 03:00 break: one nudge fires there.
  const Plan p = NightWorker("America/New_York", 22, 0);
  const auto occ = PlanDay(p, NoJitter(), absl::CivilDay(2026, 3, 7));
  std::vector<absl::Time> want = {Utc(2026, 3, 8, 3, 50), Utc(2026, 3, 8, 4, 40),
                                  Utc(2026, 3, 8, 5, 30), Utc(2026, 3, 8, 6, 20),
                                  Utc(2026, 3, 8, 7, 0),  Utc(2026, 3, 8, 7, 50),
                                  Utc(2026, 3, 8, 8, 40), Utc(2026, 3, 8, 9, 30)};
  ASSERT_EQ(occ.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(occ[i].due, want[i]) << i;
  EXPECT_EQ(occ[4].local_time, "2026-03-08T03:00:00-04:00");
  EXPECT_EQ(occ[4].slot, 370);  // the 02:10 slot (lower) survives the merge
  EXPECT_EQ(occ[3].local_time, "2026-03-08T01:20:00-05:00");
  EXPECT_EQ(occ[5].local_time, "2026-03-08T03:50:00-04:00");
}

TEST(PlannerDst, NewYorkFallBackRepeatedTimeFiresOnce) {
  // 2026-11-01 02:00 EDT -> 01:00 EST: 01:00-02:00 happens twice. The 01:20 break fires once, at
  // the first 01:20 (EDT, 05:20Z), never again at 06:20Z.
  const Plan p = NightWorker("America/New_York", 22, 0);
  const auto occ = PlanDay(p, NoJitter(), absl::CivilDay(2026, 10, 31));
  std::vector<absl::Time> want = {
      Utc(2026, 11, 1, 2, 50), Utc(2026, 11, 1, 3, 40), Utc(2026, 11, 1, 4, 30),
      Utc(2026, 11, 1, 5, 20), Utc(2026, 11, 1, 7, 10), Utc(2026, 11, 1, 8, 0),
      Utc(2026, 11, 1, 8, 50), Utc(2026, 11, 1, 9, 40), Utc(2026, 11, 1, 10, 30)};
  ASSERT_EQ(occ.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(occ[i].due, want[i]) << i;
  EXPECT_EQ(occ[3].local_time, "2026-11-01T01:20:00-04:00");
  EXPECT_EQ(occ[4].local_time, "2026-11-01T02:10:00-05:00");
}

TEST(PlannerDst, NewYorkSpringForwardDayOfAnOrdinaryPlan) {
  // Awake 07:00 -> 22:30 on the spring-forward day: every nudge keeps its wall-clock time; the day
  // is one real hour shorter only before 07:00, so nothing moves.
  Plan p = MakePlan("America/New_York", 7, 0, 22, 30);
  p.bedtime_stretch = p.hydration = true;
  const auto occ = PlanDay(p, NoJitter(), absl::CivilDay(2026, 3, 8));
  ASSERT_EQ(occ.size(), 11u);
  EXPECT_EQ(occ.front().local_time, "2026-03-08T07:30:00-04:00");
  EXPECT_EQ(occ.front().due, Utc(2026, 3, 8, 11, 30));
  EXPECT_EQ(occ.back().local_time, "2026-03-08T22:00:00-04:00");
  // The day before, the same wall-clock times are an hour later in UTC.
  const auto before = PlanDay(p, NoJitter(), absl::CivilDay(2026, 3, 7));
  EXPECT_EQ(before.front().due, Utc(2026, 3, 7, 12, 30));
}

TEST(PlannerDst, LordHoweHalfHourSpringForward) {
  // 2026-10-04 02:00 +10:30 -> 02:30 +11:00. Shift from Saturday 23:30: breaks 00:20, 01:10,
  // 02:00 (skipped: moves to 02:30 +11:00 = 15:30Z), 02:50, ...
  const Plan p = NightWorker("Australia/Lord_Howe", 23, 30);
  const auto occ = PlanDay(p, NoJitter(), absl::CivilDay(2026, 10, 3));
  ASSERT_GE(occ.size(), 4u);
  EXPECT_EQ(occ[0].local_time, "2026-10-04T00:20:00+10:30");
  EXPECT_EQ(occ[1].local_time, "2026-10-04T01:10:00+10:30");
  EXPECT_EQ(occ[2].local_time, "2026-10-04T02:30:00+11:00");
  EXPECT_EQ(occ[2].due, Utc(2026, 10, 3, 15, 30));
  EXPECT_EQ(occ[3].local_time, "2026-10-04T02:50:00+11:00");
  EXPECT_EQ(occ[3].due, Utc(2026, 10, 3, 15, 50));
}

TEST(PlannerDst, LordHoweHalfHourFallBack) {
  // 2026-04-05 02:00 +11:00 -> 01:30 +10:30: 01:30-02:00 happens twice. Shift from Saturday 23:55:
  // breaks 00:45, 01:35 (first one only: 14:35Z), 02:25 (+10:30 = 15:55Z).
  const Plan p = NightWorker("Australia/Lord_Howe", 23, 55);
  const auto occ = PlanDay(p, NoJitter(), absl::CivilDay(2026, 4, 4));
  ASSERT_GE(occ.size(), 3u);
  EXPECT_EQ(occ[0].local_time, "2026-04-05T00:45:00+11:00");
  EXPECT_EQ(occ[1].local_time, "2026-04-05T01:35:00+11:00");
  EXPECT_EQ(occ[1].due, Utc(2026, 4, 4, 14, 35));
  EXPECT_EQ(occ[2].local_time, "2026-04-05T02:25:00+10:30");
  EXPECT_EQ(occ[2].due, Utc(2026, 4, 4, 15, 55));
  for (const auto& o : occ) EXPECT_NE(o.due, Utc(2026, 4, 4, 15, 5));  // the second 01:35
}

TEST(PlannerDst, ChathamSpringForwardAt0245) {
  // 2026-09-27 02:45 +12:45 -> 03:45 +13:45. A wake time inside the gap starts the day at the
  // transition.
  Plan p = MakePlan("Pacific/Chatham", 3, 0, 21, 0);
  p.hydration = true;
  ScheduleRules r = NoJitter();
  r.hydration_start_after_wake_min = 0;
  const auto occ = PlanDay(p, r, absl::CivilDay(2026, 9, 27));
  ASSERT_FALSE(occ.empty());
  EXPECT_EQ(occ[0].local_time, "2026-09-27T03:45:00+13:45");
  EXPECT_EQ(occ[0].due, Utc(2026, 9, 26, 14, 0));
}

TEST(PlannerDst, SkippedTimeAtEndOfWindowNeverLandsInQuietHours) {
  // Awake 20:00 -> 02:30 with a bedtime stretch at 02:00 on the New York spring-forward night:
  // 02:00 does not exist and the transition (03:00) is already quiet: the nudge is dropped, not
  // sent at night.
  Plan p = MakePlan("America/New_York", 20, 0, 2, 30);
  p.bedtime_stretch = true;
  EXPECT_TRUE(PlanDay(p, NoJitter(), absl::CivilDay(2026, 3, 7)).empty());
  EXPECT_EQ(PlanDay(p, NoJitter(), absl::CivilDay(2026, 3, 6)).size(), 1u);
}

// --- cap, jitter, ids ----------------------------------------------------------------------------

TEST(Planner, CapKeepsBedtimeAndMovementBreaksFirst) {
  Plan p = MakePlan("UTC", 6, 0, 23, 0);
  p.hydration = p.stretching = p.bedtime_stretch = p.movement_break = true;
  p.shifts.push_back({0x7f, 7 * 60, 19 * 60, true});  // 12 h standing every day: 14 breaks
  p.max_nudges_per_day = 16;
  const auto occ = PlanDay(p, NoJitter(), absl::CivilDay(2026, 6, 10));
  ASSERT_EQ(occ.size(), 16u);
  EXPECT_EQ(OfKind(occ, NudgeKind::kBedtimeStretch).size(), 1u);
  EXPECT_EQ(OfKind(occ, NudgeKind::kMovementBreak).size(), 14u);
  EXPECT_EQ(OfKind(occ, NudgeKind::kStretching).size(), 1u);
  EXPECT_EQ(OfKind(occ, NudgeKind::kHydration).size(), 0u);
  // The kept stretch is the middle one, with the same id as without a cap.
  EXPECT_EQ(OfKind(occ, NudgeKind::kStretching)[0].slot, 1);

  p.max_nudges_per_day = 0;  // default 24: 1 + 14 + 3 + 6 of 10 glasses, evenly spread
  const auto def = PlanDay(p, NoJitter(), absl::CivilDay(2026, 6, 10));
  ASSERT_EQ(def.size(), 24u);
  const auto hyd = OfKind(def, NudgeKind::kHydration);
  ASSERT_EQ(hyd.size(), 6u);
  std::set<int> slots;
  for (const auto& o : hyd) slots.insert(o.slot);
  EXPECT_EQ(slots, (std::set<int>{0, 2, 4, 5, 7, 9}));
}

TEST(Planner, JitterIsFixedPerUserAndSpreadsUsers) {
  ScheduleRules rules;
  std::map<int, int> per_second;
  for (int i = 0; i < 60000; ++i) {
    const std::string user = absl::StrCat("user-", i);
    const int j = JitterSeconds(user, rules);
    ASSERT_GE(j, 0);
    ASSERT_LE(j, rules.max_jitter_seconds);
    ASSERT_EQ(j, JitterSeconds(user, rules));
    per_second[j]++;
  }
  // 60000 users over 600 seconds: every second used, none far above the mean of 100.
  EXPECT_EQ(per_second.size(), 600u);
  for (const auto& [sec, n] : per_second) EXPECT_LT(n, 200) << sec;

  Plan p = MakePlan("Europe/London", 8, 0, 22, 0);
  p.stretching = true;
  p.user_id = "user-42";
  const auto occ = PlanDay(p, rules, absl::CivilDay(2026, 6, 10));
  const auto base = PlanDay(p, NoJitter(), absl::CivilDay(2026, 6, 10));
  ASSERT_EQ(occ.size(), base.size());
  for (size_t i = 0; i < occ.size(); ++i) {
    EXPECT_EQ(occ[i].due - base[i].due, absl::Seconds(JitterSeconds("user-42", rules)));
    EXPECT_EQ(occ[i].nudge_id, base[i].nudge_id);  // jitter never changes ids
  }
}

TEST(Planner, JitterNeverPushesPastSleep) {
  Plan p = MakePlan("UTC", 22, 0, 22, 5);  // a five-minute waking window
  p.bedtime_stretch = p.hydration = true;
  ScheduleRules rules;
  for (int i = 0; i < 500; ++i) {
    p.user_id = absl::StrCat("u", i);
    for (const auto& o : PlanDay(p, rules, absl::CivilDay(2026, 6, 10))) {
      EXPECT_GE(o.due, Utc(2026, 6, 10, 22, 0));
      EXPECT_LT(o.due, Utc(2026, 6, 10, 22, 5));
    }
  }
}

TEST(NudgeIds, KeepTheFormatStoredStateRefersTo) {
  // Written by the StrFormat version this replaced; acknowledgements and cancellations in Redis
  // name occurrences by these ids, so the text must never change.
  EXPECT_EQ(MakeNudgeId("load-1", NudgeKind::kHydration, absl::CivilDay(2026, 12, 3), 3),
            "hyd-20261203-3-2f0ddfbbcc433eeb");
}

TEST(FormatLocalTime, MatchesAbslFormatTimeInEveryKindOfZone) {
  // Whole-hour, half-hour, 45-minute, negative, DST and historic sub-minute offsets.
  const char* zones[] = {"UTC",
                         "Europe/London",
                         "America/New_York",
                         "Asia/Kolkata",
                         "Asia/Kathmandu",
                         "Pacific/Chatham",
                         "America/St_Johns",
                         "Africa/Monrovia",
                         "Europe/Amsterdam",
                         "Pacific/Kiritimati",
                         "America/Caracas",
                         "Australia/Lord_Howe"};
  std::mt19937_64 rng(20261203);
  std::uniform_int_distribution<int64_t> unix(-2'300'000'000, 4'100'000'000);
  for (const char* name : zones) {
    absl::TimeZone zone;
    ASSERT_TRUE(absl::LoadTimeZone(name, &zone)) << name;
    for (int i = 0; i < 2000; ++i) {
      const absl::Time t = absl::FromUnixSeconds(unix(rng));
      ASSERT_EQ(FormatLocalTime(t, zone), absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", t, zone))
          << name << " " << absl::ToUnixSeconds(t);
    }
  }
}

TEST(NudgeIds, StableParsableAndOwned) {
  const std::string id = MakeNudgeId("alice", NudgeKind::kHydration, absl::CivilDay(2026, 3, 8), 3);
  EXPECT_EQ(id, MakeNudgeId("alice", NudgeKind::kHydration, absl::CivilDay(2026, 3, 8), 3));
  EXPECT_EQ(id.substr(0, 15), "hyd-20260308-3-");
  EXPECT_NE(id, MakeNudgeId("bob", NudgeKind::kHydration, absl::CivilDay(2026, 3, 8), 3));
  EXPECT_NE(id, MakeNudgeId("alice", NudgeKind::kStretching, absl::CivilDay(2026, 3, 8), 3));
  EXPECT_NE(id, MakeNudgeId("alice", NudgeKind::kHydration, absl::CivilDay(2026, 3, 9), 3));
  EXPECT_NE(id, MakeNudgeId("alice", NudgeKind::kHydration, absl::CivilDay(2026, 3, 8), 4));

  absl::StatusOr<NudgeRef> ref = ParseNudgeId("alice", id);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->kind, NudgeKind::kHydration);
  EXPECT_EQ(ref->plan_day, absl::CivilDay(2026, 3, 8));
  EXPECT_EQ(ref->slot, 3);
  EXPECT_FALSE(ref->snoozed);
  EXPECT_EQ(ParseNudgeId("bob", id).status().code(), absl::StatusCode::kNotFound);
  for (const char* bad :
       {"", "hyd", "xyz-20260308-3-0123456789abcdef", "hyd-20260230-3-0123456789abcdef",
        "hyd-2026038-3-0123456789abcdef", "hyd-20260308-3-0123"}) {
    EXPECT_EQ(ParseNudgeId("alice", bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }

  const absl::Time due = Utc(2026, 3, 8, 15, 0);
  const std::string sid = MakeSnoozeId("alice", NudgeKind::kStretching, due);
  ref = ParseNudgeId("alice", sid);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_TRUE(ref->snoozed);
  EXPECT_EQ(ref->kind, NudgeKind::kStretching);
  EXPECT_EQ(ref->due, due);
  EXPECT_EQ(ParseNudgeId("bob", sid).status().code(), absl::StatusCode::kNotFound);
}

// --- adapting ------------------------------------------------------------------------------------

TEST(Adapting, HydrationDroppedOnlyOnceTargetReachedAndOnlyFuture) {
  Plan p = MakePlan("Europe/London", 7, 0, 22, 0);
  p.hydration = p.stretching = true;
  const auto day = PlanDay(p, NoJitter(), absl::CivilDay(2026, 6, 10));
  const absl::Time now = Utc(2026, 6, 10, 12, 0);  // 13:00 BST
  EXPECT_TRUE(HydrationNudgesToDrop(day, 2299, 2300, now).empty());
  const auto dropped = HydrationNudgesToDrop(day, 2300, 2300, now);
  int future_hydration = 0;
  for (const auto& o : day) future_hydration += (o.kind == NudgeKind::kHydration && o.due > now);
  EXPECT_EQ(static_cast<int>(dropped.size()), future_hydration);
  EXPECT_GT(future_hydration, 0);
  for (const auto& id : dropped) EXPECT_EQ(id.substr(0, 3), "hyd");
}

TEST(Adapting, SnoozeNeverLandsInQuietHours) {
  Plan p = MakePlan("America/New_York", 7, 0, 22, 0);
  // 21:30 EDT + 15 min: still awake.
  EXPECT_EQ(SnoozeTarget(p, Utc(2026, 6, 11, 1, 30), 15), Utc(2026, 6, 11, 1, 45));
  // 21:50 EDT + 30 min = 22:20: quiet, moves to 07:00 next morning.
  EXPECT_EQ(SnoozeTarget(p, Utc(2026, 6, 11, 1, 50), 30), Utc(2026, 6, 11, 11, 0));
  // Just after midnight (00:10 EDT) + 60: moves to 07:00 the same calendar day.
  EXPECT_EQ(SnoozeTarget(p, Utc(2026, 6, 11, 4, 10), 60), Utc(2026, 6, 11, 11, 0));
  // Across spring-forward: 21:50 EST on 2026-03-07 + 240 min -> 07:00 EDT on 03-08 (11:00Z).
  EXPECT_EQ(SnoozeTarget(p, Utc(2026, 3, 8, 2, 50), 240), Utc(2026, 3, 8, 11, 0));

  const Occurrence o = MakeSnoozeOccurrence(p, NudgeKind::kStretching, Utc(2026, 6, 11, 1, 50), 30);
  EXPECT_EQ(o.local_time, "2026-06-11T07:00:00-04:00");
  EXPECT_EQ(o.plan_day, absl::CivilDay(2026, 6, 11));
  EXPECT_TRUE(ParseNudgeId("test-user", o.nudge_id).ok());
}

TEST(Adapting, PlanDayOf) {
  Plan p = MakePlan("UTC", 14, 0, 2, 0);
  EXPECT_EQ(PlanDayOf(p, Utc(2026, 6, 11, 1, 0)), absl::CivilDay(2026, 6, 10));
  EXPECT_EQ(PlanDayOf(p, Utc(2026, 6, 11, 14, 0)), absl::CivilDay(2026, 6, 11));
}

// --- properties over zones and random plans ------------------------------------------------------

// Independent check of the quiet-hour rule: local minute of day in [sleep, wake) circularly.
bool LocallyQuiet(const Plan& p, absl::Time t) {
  const absl::CivilSecond cs = p.zone.At(t).cs;
  const int m = cs.hour() * 60 + cs.minute();
  if (p.wake_minute < p.sleep_minute) return m < p.wake_minute || m >= p.sleep_minute;
  return m >= p.sleep_minute && m < p.wake_minute;
}

// Independent check that a movement break lies inside one of her standing shifts on her wall clock.
// Near a DST gap the break may have moved forward to the transition: then its original local time
// (up to an hour earlier) must have been inside the shift.
bool InStandingShift(const Plan& p, absl::Time t) {
  const absl::CivilSecond cs = p.zone.At(t).cs;
  const bool near_change = p.zone.At(t).offset != p.zone.At(t - absl::Hours(2)).offset;
  for (int back = 0; back <= (near_change ? 60 : 0); ++back) {
    const absl::CivilSecond c = cs - back * 60;
    for (const Shift& s : p.shifts) {
      if (!s.standing) continue;
      const int len = (s.end_minute - s.start_minute + 1440) % 1440;
      for (int rel = -1; rel <= 0; ++rel) {
        const absl::CivilDay date = absl::CivilDay(c) + rel;
        const int wd = (static_cast<int>(absl::GetWeekday(date)) + 7) % 7;  // absl: monday = 0
        if (!((s.days_mask >> wd) & 1)) continue;
        const absl::CivilSecond start = absl::CivilSecond(date) + s.start_minute * 60;
        if (start <= c && c < start + len * 60) return true;
      }
    }
  }
  return false;
}

Plan RandomPlan(std::mt19937_64& rng, const std::string& zone, int index) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Plan p;
  p.user_id = absl::StrCat("prop-", index, "-", uni(0, 1 << 30));
  p.time_zone_name = zone;
  p.zone = Zone(zone);
  // Mostly realistic windows, sometimes anything at all (including very short or night windows).
  if (uni(0, 3) > 0) {
    p.wake_minute = uni(5 * 60, 9 * 60 + 59);
    p.sleep_minute = uni(20 * 60, 23 * 60 + 59);
  } else {
    p.wake_minute = uni(0, 1439);
    do {
      p.sleep_minute = uni(0, 1439);
    } while (p.sleep_minute == p.wake_minute);
  }
  do {
    p.hydration = uni(0, 1);
    p.stretching = uni(0, 1);
    p.movement_break = uni(0, 1);
    p.bedtime_stretch = uni(0, 1);
  } while (!(p.hydration || p.stretching || p.movement_break || p.bedtime_stretch));
  p.water_target_ml = uni(0, 2) == 0 ? 0 : uni(500, 6000);
  p.max_nudges_per_day = uni(0, 2) == 0 ? 0 : uni(1, 48);
  const int shifts = uni(0, 3);
  for (int i = 0; i < shifts; ++i) {
    Shift s;
    s.days_mask = static_cast<uint8_t>(uni(1, 127));
    s.start_minute = uni(0, 1439);
    do {
      s.end_minute = uni(0, 1439);
    } while (s.end_minute == s.start_minute);
    s.standing = uni(0, 3) > 0;
    p.shifts.push_back(s);
  }
  return p;
}

class PlannerProperty : public ::testing::TestWithParam<std::string> {};

TEST_P(PlannerProperty, RandomPlansKeepEveryRule) {
  const std::string zone = GetParam();
  std::mt19937_64 rng(StableHash64(zone));  // seeded: reproducible per zone
  const ScheduleRules rules;
  // 2026 with all its DST changes: random 3-day windows, and one around each transition below.
  const absl::Time year_start = Utc(2026, 1, 1, 0, 0);
  for (int i = 0; i < 1200; ++i) {
    const Plan p = RandomPlan(rng, zone, i);
    const absl::Time start =
        year_start + absl::Minutes(std::uniform_int_distribution<int>(0, 364 * 1440)(rng));
    const absl::Time end = start + absl::Hours(72);
    const auto occ = PlanOccurrences(p, rules, start, end);
    const int cap = p.max_nudges_per_day > 0 ? p.max_nudges_per_day : 24;
    std::set<std::string> ids;
    std::map<absl::CivilDay, int> per_day;
    for (size_t k = 0; k < occ.size(); ++k) {
      const Occurrence& o = occ[k];
      SCOPED_TRACE(absl::StrCat(zone, " plan ", i, " ", o.nudge_id, " ", o.local_time));
      ASSERT_GE(o.due, start);
      ASSERT_LT(o.due, end);
      if (k > 0) ASSERT_LE(occ[k - 1].due, o.due);
      ASSERT_FALSE(LocallyQuiet(p, o.due));
      ASSERT_TRUE(p.Wants(o.kind));
      // The local time string is the due instant on her wall clock with her offset at that instant.
      absl::Time parsed;
      std::string err;
      ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%S%Ez", o.local_time, &parsed, &err)) << err;
      ASSERT_EQ(parsed, o.due);
      const absl::TimeZone::CivilInfo ci = p.zone.At(o.due);
      const int off = ci.offset;
      ASSERT_EQ(o.local_time.substr(19),
                absl::StrFormat("%c%02d:%02d", off < 0 ? '-' : '+', std::abs(off) / 3600,
                                (std::abs(off) % 3600) / 60));
      // The plan day is the local date of the last wake time at or before it.
      ASSERT_EQ(o.plan_day, PlanDayOf(p, o.due));
      // Movement breaks fall inside a standing shift.
      if (o.kind == NudgeKind::kMovementBreak) {
        ASSERT_TRUE(InStandingShift(p, o.due));
      }
      ASSERT_TRUE(ids.insert(o.nudge_id).second) << "duplicate id";
      absl::StatusOr<NudgeRef> ref = ParseNudgeId(p.user_id, o.nudge_id);
      ASSERT_TRUE(ref.ok()) << ref.status();
      ASSERT_EQ(ref->kind, o.kind);
      ASSERT_EQ(ref->plan_day, o.plan_day);
      ASSERT_EQ(ref->slot, o.slot);
      per_day[o.plan_day]++;
    }
    // Per plan day, never more than the cap (count whole days, not just the window).
    for (const auto& [day, n] : per_day) {
      const auto whole = PlanDay(p, rules, day);
      ASSERT_LE(static_cast<int>(whole.size()), cap);
      ASSERT_LE(n, static_cast<int>(whole.size()));
    }
    // Exactly what planning every plan day around the window whole and filtering gives (no day
    // skipped), and the day-by-day visit already comes in due order.
    std::vector<std::pair<absl::Time, std::string>> oracle;
    for (absl::CivilDay d = absl::CivilDay(p.zone.At(start).cs) - 2;
         d <= absl::CivilDay(p.zone.At(end).cs) + 1; ++d) {
      for (const Occurrence& o : PlanDay(p, rules, d)) {
        if (o.due >= start && o.due < end) oracle.emplace_back(o.due, o.nudge_id);
      }
    }
    std::vector<std::pair<absl::Time, std::string>> got;
    for (const Occurrence& o : occ) got.emplace_back(o.due, o.nudge_id);
    std::sort(oracle.begin(), oracle.end());
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, oracle) << zone << " plan " << i;
    absl::Time previous = absl::InfinitePast();
    VisitOccurrences(p, rules, start, end, [&](Occurrence& o) {
      EXPECT_LE(previous, o.due) << zone << " plan " << i;
      previous = o.due;
      return true;
    });
    // Stable: a different window returns the same occurrences where the windows overlap.
    const auto shifted = PlanOccurrences(p, rules, start + absl::Hours(30), end + absl::Hours(30));
    std::map<std::string, absl::Time> first;
    for (const auto& o : occ) first[o.nudge_id] = o.due;
    for (const auto& o : shifted) {
      if (o.due < end) {
        ASSERT_TRUE(first.count(o.nudge_id)) << o.nudge_id;
        ASSERT_EQ(first[o.nudge_id], o.due);
      }
    }
    for (const auto& o : occ) {
      if (o.due >= start + absl::Hours(30)) {
        bool found = false;
        for (const auto& s : shifted) found |= s.nudge_id == o.nudge_id;
        ASSERT_TRUE(found) << o.nudge_id;
      }
    }
  }
}

TEST_P(PlannerProperty, DstDaysKeepEveryRuleAndOrdinaryDaysKeepWallClock) {
  const std::string zone = GetParam();
  const absl::TimeZone tz = Zone(zone);
  std::mt19937_64 rng(StableHash64(zone) + 1);
  const ScheduleRules rules;
  // Every UTC offset change in 2026 for this zone.
  std::vector<absl::Time> transitions;
  absl::TimeZone::CivilTransition tr;
  absl::Time t = Utc(2026, 1, 1, 0, 0);
  while (tz.NextTransition(t, &tr) && tr.to.year() == 2026 && transitions.size() < 8) {
    t = tz.At(tr.to).trans;
    transitions.push_back(t);
  }
  for (const absl::Time tt : transitions) {
    for (int i = 0; i < 400; ++i) {
      Plan p = RandomPlan(rng, zone, i);
      p.max_nudges_per_day = 48;
      const auto occ = PlanOccurrences(p, rules, tt - absl::Hours(36), tt + absl::Hours(36));
      std::set<std::string> ids;
      for (const auto& o : occ) {
        ASSERT_FALSE(LocallyQuiet(p, o.due)) << zone << " " << o.local_time;
        ASSERT_TRUE(ids.insert(o.nudge_id).second);
      }
    }
  }
  // Away from transitions, a nudge keeps its wall-clock time from one day to the next.
  Plan p = MakePlan(zone, 7, 0, 22, 0);
  p.hydration = p.stretching = p.bedtime_stretch = true;
  for (int d = 0; d < 365; d += 7) {
    const absl::CivilDay day = absl::CivilDay(2026, 1, 1) + d;
    const auto a = PlanDay(p, rules, day);
    const auto b = PlanDay(p, rules, day + 1);
    ASSERT_EQ(a.size(), b.size()) << day;
    for (size_t k = 0; k < a.size(); ++k) {
      const absl::CivilSecond ca = tz.At(a[k].due).cs;
      const absl::CivilSecond cb = tz.At(b[k].due).cs;
      ASSERT_EQ(cb - ca, 86400) << zone << " " << a[k].local_time << " vs " << b[k].local_time;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Zones, PlannerProperty,
                         ::testing::Values("America/New_York", "Europe/London",
                                           "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham",
                                           "America/Sao_Paulo", "UTC", "Pacific/Kiritimati",
                                           "America/St_Johns"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '/') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace legwise::reminder
