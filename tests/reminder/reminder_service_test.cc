// The gRPC adapter driven in process with the in-memory store and a fixed clock: validation paths,
// etags, paging, acknowledge, snooze into quiet hours, and water intake dropping the day's
// remaining hydration nudges (and the dispatcher then never delivering them).
#include "services/reminder/reminder_service.h"

#include <set>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "gtest/gtest.h"
#include "services/common/validation.h"
#include "services/reminder/delivery/dispatcher.h"
#include "services/reminder/delivery/nudge_hub.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/store/memory_store.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), absl::UTCTimeZone());
}

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest()
      : now_(Utc(2026, 6, 10, 9, 0)),  // 10:00 in London (BST)
        store_(4, [this] { return now_; }),
        hub_(&store_),
        texts_(nullptr),
        planner_(ScheduleRules{}, [this] { return now_; }),
        service_(&store_, &hub_, &texts_, &planner_) {}

  v1::ReminderPlan Plan(const std::string& user) {
    v1::ReminderPlan p;
    p.set_user_id(user);
    p.set_time_zone("Europe/London");
    p.mutable_wake_time()->set_hours(7);
    p.mutable_sleep_time()->set_hours(22);
    p.add_kinds(v1::NUDGE_KIND_HYDRATION);
    p.add_kinds(v1::NUDGE_KIND_BEDTIME_STRETCH);
    return p;
  }

  v1::ReminderPlan Create(const std::string& user) {
    v1::CreateReminderPlanRequest req;
    *req.mutable_plan() = Plan(user);
    v1::ReminderPlan out;
    EXPECT_TRUE(service_.DoCreate(req, &out).ok());
    return out;
  }

  std::vector<v1::Nudge> List(const std::string& user, int page_size = 0) {
    std::vector<v1::Nudge> all;
    v1::ListUpcomingNudgesRequest req;
    req.set_user_id(user);
    req.set_page_size(page_size);
    while (true) {
      v1::ListUpcomingNudgesResponse resp;
      absl::Status s = service_.DoList(req, &resp);
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) break;
      all.insert(all.end(), resp.nudges().begin(), resp.nudges().end());
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    return all;
  }

  absl::Time now_;
  MemoryReminderStore store_;
  NudgeHub hub_;
  NudgeTextProvider texts_;
  Planner planner_;
  ReminderServiceImpl service_;
};

TEST_F(ServiceTest, CreateValidatesAndSetsServerFields) {
  v1::CreateReminderPlanRequest req;
  v1::ReminderPlan out;
  absl::Status s = service_.DoCreate(req, &out);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetFieldViolations(s)[0].field, "plan");

  *req.mutable_plan() = Plan("ana");
  req.mutable_plan()->mutable_work_shifts()->Add()->add_days(v1::DAY_OF_WEEK_UNSPECIFIED);
  s = service_.DoCreate(req, &out);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  std::set<std::string> fields;
  for (const auto& v : GetFieldViolations(s)) fields.insert(v.field);
  EXPECT_TRUE(fields.count("plan.work_shifts[0].days[0]"));
  EXPECT_TRUE(fields.count("plan.work_shifts[0].start"));

  const v1::ReminderPlan created = Create("ana");
  EXPECT_FALSE(created.etag().empty());
  EXPECT_EQ(created.create_time().seconds(), absl::ToUnixSeconds(now_));
  // Her plan has its one entry in the per-plan due index (occurrences are derived, not stored).
  EXPECT_EQ(store_.DuePlanCount()->first, 1);
  EXPECT_EQ(store_.Backlog()->first, 0);
}

TEST_F(ServiceTest, UpdateUsesEtags) {
  const v1::ReminderPlan created = Create("bea");
  v1::UpdateReminderPlanRequest req;
  *req.mutable_plan() = Plan("bea");
  req.mutable_plan()->set_etag("stale");
  v1::ReminderPlan out;
  EXPECT_EQ(service_.DoUpdate(req, &out).code(), absl::StatusCode::kAborted);
  req.mutable_plan()->set_etag(created.etag());
  req.mutable_plan()->set_daily_water_target_ml(3000);
  now_ += absl::Minutes(5);
  ASSERT_TRUE(service_.DoUpdate(req, &out).ok());
  EXPECT_NE(out.etag(), created.etag());
  EXPECT_EQ(out.create_time().seconds(), created.create_time().seconds());
  EXPECT_EQ(out.update_time().seconds(), absl::ToUnixSeconds(now_));
  req.mutable_plan()->set_user_id("nobody");
  req.mutable_plan()->clear_etag();
  EXPECT_EQ(service_.DoUpdate(req, &out).code(), absl::StatusCode::kNotFound);
}

TEST_F(ServiceTest, ListPagesInOrderWithoutGapsOrRepeats) {
  Create("cat");
  const std::vector<v1::Nudge> one_page = List("cat", 200);
  const std::vector<v1::Nudge> paged = List("cat", 3);
  ASSERT_EQ(one_page.size(), paged.size());
  ASSERT_GT(paged.size(), 3u);
  for (size_t i = 0; i < paged.size(); ++i) {
    EXPECT_EQ(paged[i].nudge_id(), one_page[i].nudge_id());
    EXPECT_FALSE(paged[i].title().empty());
    EXPECT_EQ(paged[i].locale(), "en");
    if (i > 0) EXPECT_LE(paged[i - 1].due_time().seconds(), paged[i].due_time().seconds());
  }
  v1::ListUpcomingNudgesRequest bad;
  bad.set_user_id("cat");
  bad.set_page_size(-1);
  bad.set_page_token("!!!");
  v1::ListUpcomingNudgesResponse resp;
  absl::Status s = service_.DoList(bad, &resp);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetFieldViolations(s).size(), 2u);
}

TEST_F(ServiceTest, AcknowledgeMarksAndChecksOwnership) {
  Create("dee");
  const std::vector<v1::Nudge> nudges = List("dee");
  ASSERT_FALSE(nudges.empty());
  v1::AcknowledgeNudgeRequest req;
  req.set_user_id("dee");
  req.set_nudge_id(nudges[0].nudge_id());
  ASSERT_TRUE(service_.DoAcknowledge(req).ok());
  EXPECT_TRUE(List("dee")[0].acknowledged());
  req.set_user_id("someone-else");
  Create("someone-else");
  EXPECT_EQ(service_.DoAcknowledge(req).code(), absl::StatusCode::kNotFound);
  req.set_nudge_id("garbage");
  EXPECT_EQ(service_.DoAcknowledge(req).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServiceTest, SnoozeIntoQuietHoursMovesToWakeTime) {
  Create("eve");
  const std::vector<v1::Nudge> nudges = List("eve");
  v1::SnoozeNudgeRequest req;
  req.set_user_id("eve");
  req.set_nudge_id(nudges[0].nudge_id());
  req.set_minutes(0);
  v1::SnoozeNudgeResponse resp;
  EXPECT_EQ(service_.DoSnooze(req, &resp).code(), absl::StatusCode::kInvalidArgument);
  now_ = Utc(2026, 6, 10, 20, 30);  // 21:30 BST; +60 min = 22:30: quiet
  req.set_minutes(60);
  ASSERT_TRUE(service_.DoSnooze(req, &resp).ok());
  EXPECT_EQ(resp.nudge().local_time(), "2026-06-11T07:00:00+01:00");
  EXPECT_EQ(resp.nudge().kind(), nudges[0].kind());
  // The one-off shows in the list of the next morning.
  v1::ListUpcomingNudgesRequest lr;
  lr.set_user_id("eve");
  v1::ListUpcomingNudgesResponse lresp;
  ASSERT_TRUE(service_.DoList(lr, &lresp).ok());
  bool found = false;
  for (const auto& n : lresp.nudges()) found |= n.nudge_id() == resp.nudge().nudge_id();
  EXPECT_TRUE(found);
}

// A plan update replaces her pending occurrences; a snooze she asked for must survive it, and move
// to her wake time when the changed plan's quiet hours now cover it.
TEST_F(ServiceTest, SnoozesSurvivePlanUpdates) {
  Create("hal");
  v1::SnoozeNudgeRequest sreq;
  sreq.set_user_id("hal");
  sreq.set_nudge_id(List("hal")[0].nudge_id());
  sreq.set_minutes(120);  // 12:00 BST
  v1::SnoozeNudgeResponse snoozed;
  ASSERT_TRUE(service_.DoSnooze(sreq, &snoozed).ok());
  EXPECT_EQ(snoozed.nudge().local_time(), "2026-06-10T12:00:00+01:00");
  auto listed = [&](const std::string& id) {
    for (const auto& n : List("hal")) {
      if (n.nudge_id() == id) return true;
    }
    return false;
  };
  ASSERT_TRUE(listed(snoozed.nudge().nudge_id()));
  sreq.set_nudge_id(List("hal")[1].nudge_id());
  sreq.set_minutes(60);  // 11:00 BST: stays where it is through both updates
  v1::SnoozeNudgeResponse stays;
  ASSERT_TRUE(service_.DoSnooze(sreq, &stays).ok());

  // An unrelated change: the snooze keeps its id and time.
  v1::UpdateReminderPlanRequest ureq;
  ASSERT_TRUE(service_
                  .DoGet(
                      [] {
                        v1::GetReminderPlanRequest g;
                        g.set_user_id("hal");
                        return g;
                      }(),
                      ureq.mutable_plan())
                  .ok());
  ureq.mutable_plan()->set_daily_water_target_ml(2600);
  v1::ReminderPlan updated;
  ASSERT_TRUE(service_.DoUpdate(ureq, &updated).ok());
  EXPECT_TRUE(listed(snoozed.nudge().nudge_id()));

  // She now sleeps from 11:30 (a night shift): 12:00 is quiet, so it moves to 07:00 tomorrow.
  *ureq.mutable_plan() = updated;
  ureq.mutable_plan()->mutable_sleep_time()->set_hours(11);
  ureq.mutable_plan()->mutable_sleep_time()->set_minutes(30);
  ASSERT_TRUE(service_.DoUpdate(ureq, &updated).ok());
  EXPECT_FALSE(listed(snoozed.nudge().nudge_id()));
  int moved = 0;
  v1::ListUpcomingNudgesRequest lr;
  lr.set_user_id("hal");
  lr.set_page_size(200);
  lr.mutable_end_time()->set_seconds(absl::ToUnixSeconds(now_ + absl::Hours(48)));
  v1::ListUpcomingNudgesResponse lresp;
  ASSERT_TRUE(service_.DoList(lr, &lresp).ok());
  for (const auto& n : lresp.nudges()) {
    moved += n.kind() == snoozed.nudge().kind() && n.local_time() == "2026-06-11T07:00:00+01:00" &&
             n.nudge_id().rfind("snz-", 0) == 0;
  }
  EXPECT_EQ(moved, 1);

  // Delivered until tomorrow morning: both snoozes, the moved one only at its new time.
  Dispatcher dispatcher(&store_, &texts_, ScheduleRules{}, DispatcherOptions{});
  std::vector<std::string> cursors;
  ASSERT_TRUE(store_.ReadOutbox(&cursors, 1000, absl::ZeroDuration()).ok());
  for (; now_ <= Utc(2026, 6, 11, 6, 5); now_ += absl::Minutes(5)) {
    for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(dispatcher.DispatchBucket(b).ok());
  }
  auto out = store_.ReadOutbox(&cursors, 1000, absl::ZeroDuration());
  ASSERT_TRUE(out.ok());
  std::vector<std::string> delivered_snoozes;
  for (const OutboxEntry& e : *out) {
    v1::Nudge n;
    ASSERT_TRUE(n.ParseFromString(e.payload));
    if (e.nudge_id.rfind("snz-", 0) == 0) delivered_snoozes.push_back(n.local_time());
  }
  EXPECT_EQ(delivered_snoozes,
            (std::vector<std::string>{"2026-06-10T11:00:00+01:00", "2026-06-11T07:00:00+01:00"}));
}

TEST_F(ServiceTest, WaterTargetDropsRemainingHydrationAndTheyAreNeverDelivered) {
  Create("fay");
  v1::LogWaterIntakeRequest req;
  req.set_user_id("fay");
  req.set_amount_ml(2001);
  v1::LogWaterIntakeResponse resp;
  EXPECT_EQ(service_.DoLogWater(req, &resp).code(), absl::StatusCode::kInvalidArgument);
  req.set_amount_ml(1500);
  ASSERT_TRUE(service_.DoLogWater(req, &resp).ok());
  EXPECT_EQ(resp.total_today_ml(), 1500);
  EXPECT_EQ(resp.daily_target_ml(), 2300);
  EXPECT_FALSE(resp.target_reached());
  EXPECT_EQ(resp.cancelled_nudges(), 0);

  int hydration_left = 0;
  for (const auto& n : List("fay")) {
    hydration_left += n.kind() == v1::NUDGE_KIND_HYDRATION &&
                      absl::FromUnixSeconds(n.due_time().seconds()) <
                          Utc(2026, 6, 10, 21, 0);  // today (before sleep)
  }
  ASSERT_GT(hydration_left, 0);
  req.set_amount_ml(800);
  ASSERT_TRUE(service_.DoLogWater(req, &resp).ok());
  EXPECT_TRUE(resp.target_reached());
  EXPECT_EQ(resp.cancelled_nudges(), hydration_left);
  for (const auto& n : List("fay")) {
    if (absl::FromUnixSeconds(n.due_time().seconds()) < Utc(2026, 6, 10, 21, 0)) {
      EXPECT_NE(n.kind(), v1::NUDGE_KIND_HYDRATION) << n.local_time();
    }
  }

  // Run the dispatcher through the rest of the day: only the bedtime stretch of today comes out.
  Dispatcher dispatcher(&store_, &texts_, ScheduleRules{}, DispatcherOptions{});
  std::vector<std::string> cursors;
  ASSERT_TRUE(store_.ReadOutbox(&cursors, 1000, absl::ZeroDuration()).ok());
  // Every 5 minutes from 10:00 to 22:00 BST, as a live dispatcher would (nothing misfires).
  for (; now_ <= Utc(2026, 6, 10, 21, 0); now_ += absl::Minutes(5)) {
    for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(dispatcher.DispatchBucket(b).ok());
  }
  EXPECT_EQ(dispatcher.skipped(), 0u);
  auto out = store_.ReadOutbox(&cursors, 1000, absl::ZeroDuration());
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  v1::Nudge delivered;
  ASSERT_TRUE(delivered.ParseFromString((*out)[0].payload));
  EXPECT_EQ(delivered.kind(), v1::NUDGE_KIND_BEDTIME_STRETCH);
  EXPECT_FALSE(delivered.title().empty());
}

TEST_F(ServiceTest, MisfiredOccurrencesAreSkippedAfterDowntime) {
  Create("gil");
  Dispatcher dispatcher(&store_, &texts_, ScheduleRules{}, DispatcherOptions{});
  std::vector<std::string> cursors;
  ASSERT_TRUE(store_.ReadOutbox(&cursors, 1000, absl::ZeroDuration()).ok());
  // Down from 10:00 until 20:00 BST: everything due before 19:30 is skipped, not sent in a burst.
  now_ = Utc(2026, 6, 10, 19, 0);
  for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(dispatcher.DispatchBucket(b).ok());
  auto out = store_.ReadOutbox(&cursors, 1000, absl::ZeroDuration());
  ASSERT_TRUE(out.ok());
  EXPECT_GT(dispatcher.skipped(), 0u);
  for (const OutboxEntry& e : *out) {
    EXPECT_GE(e.due_ms, absl::ToUnixMillis(now_ - absl::Minutes(30)));
  }
}

TEST_F(ServiceTest, DueEntryOfAStoredPlanIsDispatchedAndOneWithoutAPlanIsForgotten) {
  // A create writes her due entry first, then the plan. One that stored both, and one that died
  // after the entry (no plan at all).
  v1::ReminderPlan plan = Plan("hana");
  plan.set_etag("e");
  ASSERT_TRUE(store_.CreatePlan(plan, "", "").ok());
  ASSERT_TRUE(store_.WakePlan(UserKey("hana"), now_ + absl::Seconds(5), now_).ok());
  ASSERT_TRUE(store_.WakePlan(UserKey("ghost"), now_ + absl::Seconds(5), now_).ok());
  EXPECT_EQ(store_.DuePlanCount()->first, 2);

  Dispatcher dispatcher(&store_, &texts_, ScheduleRules{}, DispatcherOptions{});
  std::vector<std::string> cursors;
  ASSERT_TRUE(store_.ReadOutbox(&cursors, 1000, absl::ZeroDuration()).ok());
  // Within the create grace the entry without a plan is kept (her create may be storing it).
  now_ += absl::Seconds(10);
  for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(dispatcher.DispatchBucket(b).ok());
  EXPECT_EQ(store_.DuePlanCount()->first, 2);
  // Then it is forgotten; hers stays, and her occurrences come out as they fall due.
  for (const absl::Time end = now_ + absl::Hours(3); now_ <= end; now_ += absl::Minutes(5)) {
    for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(dispatcher.DispatchBucket(b).ok());
  }
  EXPECT_EQ(store_.DuePlanCount()->first, 1);
  EXPECT_EQ(store_.DuePlanCount()->second, 0);  // no claim left open
  auto out = store_.ReadOutbox(&cursors, 1000, absl::ZeroDuration());
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->empty());
  std::set<std::string> ids;
  for (const OutboxEntry& e : *out) {
    EXPECT_EQ(e.user_key, UserKey("hana"));
    EXPECT_TRUE(ids.insert(e.nudge_id).second) << e.nudge_id;  // each once
  }
}

}  // namespace
}  // namespace legwise::reminder
