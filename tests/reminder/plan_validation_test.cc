// Plan validation: every rule of ReminderPlan produces a field violation with an AIP-193 path.
#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/validation.h"
#include "services/reminder/planner/plan.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

v1::ReminderPlan ValidPlan() {
  v1::ReminderPlan p;
  p.set_user_id("user-1@example.org");
  p.set_time_zone("Europe/London");
  p.mutable_wake_time()->set_hours(7);
  p.mutable_sleep_time()->set_hours(22);
  p.mutable_sleep_time()->set_minutes(30);
  p.add_kinds(v1::NUDGE_KIND_HYDRATION);
  p.add_kinds(v1::NUDGE_KIND_MOVEMENT_BREAK);
  auto* s = p.add_work_shifts();
  s->add_days(v1::DAY_OF_WEEK_MONDAY);
  s->add_days(v1::DAY_OF_WEEK_FRIDAY);
  s->mutable_start()->set_hours(22);
  s->mutable_end()->set_hours(6);  // crosses midnight: fine
  s->set_standing(true);
  return p;
}

std::vector<std::string> Fields(const v1::ReminderPlan& p) {
  FieldViolations v;
  ValidatePlan(p, "plan", &v);
  std::vector<std::string> out;
  for (const auto& x : v.violations()) out.push_back(x.field);
  return out;
}

bool Has(const std::vector<std::string>& fields, const std::string& f) {
  return std::find(fields.begin(), fields.end(), f) != fields.end();
}

TEST(PlanValidation, ValidPlanPasses) {
  EXPECT_TRUE(Fields(ValidPlan()).empty());
  absl::StatusOr<Plan> plan = PlanFromProto(ValidPlan());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->wake_minute, 7 * 60);
  EXPECT_EQ(plan->sleep_minute, 22 * 60 + 30);
  EXPECT_TRUE(plan->hydration);
  EXPECT_TRUE(plan->movement_break);
  EXPECT_FALSE(plan->stretching);
  ASSERT_EQ(plan->shifts.size(), 1u);
  EXPECT_EQ(plan->shifts[0].days_mask, (1u << 0) | (1u << 4));
  EXPECT_EQ(plan->zone.name(), "Europe/London");
}

TEST(PlanValidation, UnknownTimeZoneIsRejectedThroughLoadTimeZone) {
  for (const char* tz :
       {"Mars/Olympus_Mons", "Europe/Londn", "localtime", "/etc/passwd", "../../etc/passwd",
        "Fixed/UTC+05:00", "Europe//London", "Europe/London "}) {
    v1::ReminderPlan p = ValidPlan();
    p.set_time_zone(tz);
    EXPECT_TRUE(Has(Fields(p), "plan.time_zone")) << tz;
    absl::StatusOr<Plan> plan = PlanFromProto(p);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << tz;
  }
  for (const char* tz : {"America/New_York", "Australia/Lord_Howe", "Pacific/Chatham",
                         "Asia/Kolkata", "UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires"}) {
    v1::ReminderPlan p = ValidPlan();
    p.set_time_zone(tz);
    EXPECT_FALSE(Has(Fields(p), "plan.time_zone")) << tz;
  }
  v1::ReminderPlan p = ValidPlan();
  p.clear_time_zone();
  EXPECT_TRUE(Has(Fields(p), "plan.time_zone"));
}

TEST(PlanValidation, UserId) {
  for (const std::string& id : {std::string(""), std::string("has space"), std::string("ü"),
                                std::string(129, 'a'), std::string("a/b")}) {
    v1::ReminderPlan p = ValidPlan();
    p.set_user_id(id);
    EXPECT_TRUE(Has(Fields(p), "plan.user_id")) << id;
  }
  for (const std::string& id :
       {std::string("a"), std::string(128, 'z'), std::string("A.b_c:d@e-f9")}) {
    v1::ReminderPlan p = ValidPlan();
    p.set_user_id(id);
    EXPECT_FALSE(Has(Fields(p), "plan.user_id")) << id;
  }
}

TEST(PlanValidation, TimesOfDay) {
  v1::ReminderPlan p = ValidPlan();
  p.mutable_wake_time()->set_hours(24);
  p.mutable_sleep_time()->set_minutes(-1);
  auto f = Fields(p);
  EXPECT_TRUE(Has(f, "plan.wake_time.hours"));
  EXPECT_TRUE(Has(f, "plan.sleep_time.minutes"));

  p = ValidPlan();
  p.mutable_sleep_time()->set_hours(7);
  p.mutable_sleep_time()->set_minutes(0);
  EXPECT_TRUE(Has(Fields(p), "plan.sleep_time"));  // wake == sleep

  p = ValidPlan();
  p.clear_wake_time();
  EXPECT_TRUE(Has(Fields(p), "plan.wake_time"));

  // Quiet hours spanning midnight are fine, so is a night-owl window.
  p = ValidPlan();
  p.mutable_wake_time()->set_hours(14);
  p.mutable_sleep_time()->set_hours(2);
  EXPECT_TRUE(Fields(p).empty());
}

TEST(PlanValidation, Kinds) {
  v1::ReminderPlan p = ValidPlan();
  p.clear_kinds();
  EXPECT_TRUE(Has(Fields(p), "plan.kinds"));

  p = ValidPlan();
  p.add_kinds(v1::NUDGE_KIND_HYDRATION);  // duplicate at index 2
  EXPECT_TRUE(Has(Fields(p), "plan.kinds[2]"));

  p = ValidPlan();
  p.add_kinds(v1::NUDGE_KIND_UNSPECIFIED);
  p.add_kinds(static_cast<v1::NudgeKind>(9));
  auto f = Fields(p);
  EXPECT_TRUE(Has(f, "plan.kinds[2]"));
  EXPECT_TRUE(Has(f, "plan.kinds[3]"));
}

TEST(PlanValidation, Bounds) {
  v1::ReminderPlan p = ValidPlan();
  p.set_daily_water_target_ml(499);
  p.set_max_nudges_per_day(49);
  auto f = Fields(p);
  EXPECT_TRUE(Has(f, "plan.daily_water_target_ml"));
  EXPECT_TRUE(Has(f, "plan.max_nudges_per_day"));

  p.set_daily_water_target_ml(6000);
  p.set_max_nudges_per_day(48);
  EXPECT_TRUE(Fields(p).empty());
  p.set_max_nudges_per_day(-1);
  EXPECT_TRUE(Has(Fields(p), "plan.max_nudges_per_day"));

  p = ValidPlan();
  for (int i = 0; i < 14; ++i) *p.add_work_shifts() = p.work_shifts(0);
  EXPECT_TRUE(Has(Fields(p), "plan.work_shifts"));

  p = ValidPlan();
  p.set_locale("not a locale");
  EXPECT_TRUE(Has(Fields(p), "plan.locale"));
  p.set_locale("es-MX");
  EXPECT_TRUE(Fields(p).empty());
}

TEST(PlanValidation, WorkShifts) {
  v1::ReminderPlan p = ValidPlan();
  auto* s = p.add_work_shifts();
  s->add_days(v1::DAY_OF_WEEK_UNSPECIFIED);
  s->add_days(v1::DAY_OF_WEEK_MONDAY);
  s->add_days(v1::DAY_OF_WEEK_MONDAY);
  s->mutable_start()->set_hours(9);
  s->mutable_end()->set_hours(9);
  auto f = Fields(p);
  EXPECT_TRUE(Has(f, "plan.work_shifts[1].days[0]"));
  EXPECT_TRUE(Has(f, "plan.work_shifts[1].days[2]"));
  EXPECT_FALSE(Has(f, "plan.work_shifts[1].days[1]"));
  EXPECT_TRUE(Has(f, "plan.work_shifts[1].end"));

  p = ValidPlan();
  s = p.add_work_shifts();
  s->mutable_start()->set_minutes(60);
  f = Fields(p);
  EXPECT_TRUE(Has(f, "plan.work_shifts[1].days"));
  EXPECT_TRUE(Has(f, "plan.work_shifts[1].start.minutes"));
  EXPECT_TRUE(Has(f, "plan.work_shifts[1].end"));
}

TEST(PlanValidation, StatusCarriesFieldViolations) {
  v1::ReminderPlan p = ValidPlan();
  p.set_time_zone("Nowhere/Land");
  p.mutable_wake_time()->set_hours(99);
  absl::Status st = PlanFromProto(p).status();
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  auto violations = GetFieldViolations(st);
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].field, "plan.time_zone");
  EXPECT_EQ(violations[1].field, "plan.wake_time.hours");
}

}  // namespace
}  // namespace legwise::reminder
