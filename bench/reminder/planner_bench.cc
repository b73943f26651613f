// Planner throughput: occurrences planned per second (items/s in the output).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/planner/planner.h"

namespace legwise::reminder {
namespace {

Plan BenchPlan(const std::string& zone, int user) {
  Plan p;
  p.user_id = absl::StrCat("bench-user-", user);
  p.time_zone_name = zone;
  absl::LoadTimeZone(zone, &p.zone);
  p.wake_minute = 6 * 60 + 30;
  p.sleep_minute = 22 * 60 + 30;
  p.hydration = p.stretching = p.bedtime_stretch = p.movement_break = true;
  p.shifts.push_back({0x1f, 8 * 60, 16 * 60, true});  // standing weekdays 08:00-16:00
  return p;
}

// One plan day of a full plan (10 hydration + 3 stretches + bedtime + up to 9 movement breaks).
void BM_PlanDay(benchmark::State& state) {
  const Plan p = BenchPlan("Europe/London", 1);
  const ScheduleRules rules;
  absl::CivilDay day(2026, 3, 2);
  int64_t items = 0;
  for (auto _ : state) {
    auto occ = PlanDay(p, rules, day);
    items += static_cast<int64_t>(occ.size());
    benchmark::DoNotOptimize(occ);
    day += 1;
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_PlanDay);

// A week window for many users across zones (what a scheduler refill does).
void BM_PlanOccurrencesWeek(benchmark::State& state) {
  const char* zones[] = {"America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
                         "Pacific/Chatham"};
  std::vector<Plan> plans;
  for (int i = 0; i < 100; ++i) plans.push_back(BenchPlan(zones[i % 5], i));
  const ScheduleRules rules;
  const absl::Time start =
      absl::FromCivil(absl::CivilSecond(2026, 3, 5, 0, 0, 0), absl::UTCTimeZone());
  int64_t items = 0;
  size_t i = 0;
  for (auto _ : state) {
    auto occ =
        PlanOccurrences(plans[i++ % plans.size()], rules, start, start + absl::Hours(24 * 7));
    items += static_cast<int64_t>(occ.size());
    benchmark::DoNotOptimize(occ);
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_PlanOccurrencesWeek);

}  // namespace
}  // namespace legwise::reminder
