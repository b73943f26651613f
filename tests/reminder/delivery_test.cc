// Unit tests of delivery/: the payloads scheduling writes (with her water target, never shown to a
// client), ScheduleHorizon leaving out what she acknowledged or what was cancelled, the dispatcher
// publishing each occurrence once with texts rendered for her plan, the hub handing published
// nudges to the right subscriber only, and the text provider's fallback to built-in texts. All on
// the in-memory store with a fixed clock (the Redis store runs the same contract in
// reminder_store_test).
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "services/reminder/delivery/dispatcher.h"
#include "services/reminder/delivery/nudge_hub.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/delivery/scheduling.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/store/memory_store.h"
#include "tests/reminder/test_plans.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), absl::UTCTimeZone());
}

v1::ReminderPlan MakeProto(const std::string& user, int32_t water_ml,
                           const std::string& locale = "en") {
  v1::ReminderPlan p;
  p.set_user_id(user);
  p.set_time_zone("Europe/London");
  p.mutable_wake_time()->set_hours(7);
  p.mutable_sleep_time()->set_hours(22);
  p.add_kinds(v1::NUDGE_KIND_HYDRATION);
  p.add_kinds(v1::NUDGE_KIND_STRETCHING);
  p.set_daily_water_target_ml(water_ml);
  p.set_locale(locale);
  return p;
}

Plan MakePlan(const std::string& user, int32_t water_ml, const std::string& locale = "en") {
  absl::StatusOr<Plan> plan = PlanFromProto(MakeProto(user, water_ml, locale));
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

class DeliveryTest : public ::testing::Test {
 protected:
  DeliveryTest() : store_(4, [this] { return now_; }), texts_(nullptr) {}

  // Stores and schedules her plan for the next 48 hours.
  void Schedule(const Plan& plan) {
    v1::ReminderPlan proto;
    proto.set_user_id(plan.user_id);
    ASSERT_TRUE(store_.CreatePlan(proto, "", "").ok());
    ASSERT_TRUE(ScheduleHorizon(store_, rules_, plan, now_, absl::Hours(48), false).ok());
  }

  // Runs every bucket until `until`, every 5 minutes.
  void RunUntil(Dispatcher& d, absl::Time until) {
    for (; now_ <= until; now_ += absl::Minutes(5)) {
      for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(d.DispatchBucket(b).ok());
    }
  }

  std::vector<v1::Nudge> Outbox(std::vector<std::string>* cursors) {
    std::vector<v1::Nudge> out;
    auto entries = store_.ReadOutbox(cursors, 10000, absl::ZeroDuration());
    EXPECT_TRUE(entries.ok());
    for (const OutboxEntry& e : *entries) {
      v1::Nudge n;
      EXPECT_TRUE(n.ParseFromString(e.payload));
      out.push_back(n);
    }
    return out;
  }

  absl::Time now_ = Utc(2026, 6, 10, 9, 0);  // 10:00 in London
  ScheduleRules rules_;
  MemoryReminderStore store_;
  NudgeTextProvider texts_;
};

TEST_F(DeliveryTest, PayloadCarriesHerTargetButNoClientSeesIt) {
  const Plan plan = MakePlan("ann", 1000);
  const std::vector<Occurrence> occ = PlanOccurrences(plan, rules_, now_, now_ + absl::Hours(24));
  ASSERT_FALSE(occ.empty());
  const ScheduledNudge sn = ToScheduled(plan, occ[0]);
  v1::Nudge n;
  ASSERT_TRUE(n.ParseFromString(sn.payload));
  EXPECT_EQ(TakePayloadWaterTarget(&n), 1000);
  EXPECT_EQ(n.SerializeAsString(), NudgeFromOccurrence(plan, occ[0]).SerializeAsString());
  // The default target (0 in the plan) adds nothing.
  const ScheduledNudge plain = ToScheduled(MakePlan("ann", 0), occ[0]);
  v1::Nudge m;
  ASSERT_TRUE(m.ParseFromString(plain.payload));
  EXPECT_EQ(TakePayloadWaterTarget(&m), 0);
}

TEST_F(DeliveryTest, EachOccurrenceIsPublishedOnceWithTextsForHerPlan) {
  const Plan plan = MakePlan("ann", 1000);
  Schedule(plan);
  // Scheduling twice (a retried create) adds nothing.
  ASSERT_EQ(*ScheduleHorizon(store_, rules_, plan, now_, absl::Hours(48), false), 0);
  std::vector<std::string> cursors;
  Outbox(&cursors);
  Dispatcher d(&store_, &texts_, rules_, DispatcherOptions{});
  const absl::Time end = Utc(2026, 6, 10, 21, 30);
  const std::vector<Occurrence> expected = PlanOccurrences(plan, rules_, now_, end);
  RunUntil(d, end);
  const std::vector<v1::Nudge> out = Outbox(&cursors);
  std::multiset<std::string> ids;
  for (const v1::Nudge& n : out) {
    ids.insert(n.nudge_id());
    EXPECT_FALSE(n.title().empty());
    if (n.kind() == v1::NUDGE_KIND_HYDRATION) {
      EXPECT_NE(n.body().find("1 litre"), std::string::npos) << n.body();
      EXPECT_EQ(n.body().find("2.3"), std::string::npos) << n.body();
    }
    // Nothing internal leaks to clients.
    EXPECT_EQ(n.GetReflection()->GetUnknownFields(n).field_count(), 0);
  }
  EXPECT_EQ(ids.size(), expected.size());
  for (const Occurrence& o : expected) EXPECT_EQ(ids.count(o.nudge_id), 1u) << o.nudge_id;
  EXPECT_EQ(d.published(), expected.size());
  // Running again publishes nothing more.
  for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_EQ(*d.DispatchBucket(b), 0);
}

// The per-plan due index: her plan stored and one due entry, nothing scheduled per occurrence.
// Two dispatchers take turns and a third claim is abandoned mid-day (a replica killed between
// claim and commit): every occurrence comes out exactly once, with texts for her plan.
TEST_F(DeliveryTest, PerPlanEntryPublishesEachOccurrenceOnceThroughAnAbandonedClaim) {
  const v1::ReminderPlan proto = MakeProto("gus", 1000);
  const Plan plan = MakePlan("gus", 1000);
  ASSERT_TRUE(store_.CreatePlan(proto, "", "").ok());
  const std::string key = UserKey("gus");
  const std::vector<Occurrence> expected =
      PlanOccurrences(plan, rules_, now_ + absl::Seconds(1), Utc(2026, 6, 10, 21, 0));
  ASSERT_GT(expected.size(), 5u);
  ASSERT_TRUE(store_.WakePlan(key, expected[0].due, now_).ok());
  EXPECT_EQ(store_.Backlog()->first, 0);  // no occurrence is stored
  std::vector<std::string> cursors;
  Outbox(&cursors);
  Dispatcher d1(&store_, &texts_, rules_, DispatcherOptions{});
  Dispatcher d2(&store_, &texts_, rules_, DispatcherOptions{});
  int abandoned = 0;
  for (int step = 0; now_ < Utc(2026, 6, 10, 21, 0); ++step, now_ += absl::Minutes(5)) {
    if (abandoned < 3 && step % 2 == 0) {  // claimed (when due) by a replica that then dies
      auto c = store_.ClaimDuePlans(UserBucket(key, store_.num_buckets()), 10, absl::Seconds(10));
      ASSERT_TRUE(c.ok());
      abandoned += static_cast<int>(c->plans.size());
      if (!c->plans.empty()) continue;
    }
    Dispatcher& d = step % 2 ? d1 : d2;
    for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(d.DispatchBucket(b).ok());
  }
  for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(d1.DispatchBucket(b).ok());
  EXPECT_GT(abandoned, 0);
  std::map<std::string, int> ids;
  for (const v1::Nudge& n : Outbox(&cursors)) {
    ++ids[n.nudge_id()];
    EXPECT_FALSE(n.title().empty());
    if (n.kind() == v1::NUDGE_KIND_HYDRATION) {
      EXPECT_NE(n.body().find("1 litre"), std::string::npos) << n.body();
    }
  }
  EXPECT_EQ(ids.size(), expected.size());
  for (const Occurrence& o : expected) EXPECT_EQ(ids[o.nudge_id], 1) << o.nudge_id;
  EXPECT_EQ(d1.skipped() + d2.skipped(), 0u);
}

// Upgrade in place: a plan scheduled by the previous version (every occurrence in the
// per-occurrence index, a refill entry) is moved to the per-plan index mid-day by the maintenance
// step; before it the legacy drain publishes, after it the per-plan path: each occurrence once.
TEST_F(DeliveryTest, OldLayoutPlanIsMigratedMidDayWithoutLossOrRepeat) {
  const Plan plan = MakePlan("hal", 1000);
  ASSERT_TRUE(store_.CreatePlan(MakeProto("hal", 1000), "", "").ok());
  ASSERT_GT(*ScheduleHorizon(store_, rules_, plan, now_, absl::Hours(48), false), 0);
  ASSERT_TRUE(store_.Schedule("hal", {}, now_, false, now_ + absl::Hours(2)).ok());  // refill due
  const std::vector<Occurrence> expected =
      PlanOccurrences(plan, rules_, now_, Utc(2026, 6, 10, 21, 0));
  std::vector<std::string> cursors;
  Outbox(&cursors);
  Dispatcher d(&store_, &texts_, rules_, DispatcherOptions{});
  int migrated = 0;
  size_t before_migration = 0;
  for (; now_ < Utc(2026, 6, 10, 21, 0); now_ += absl::Minutes(5)) {
    auto m = d.MigrateAll(now_);
    ASSERT_TRUE(m.ok());
    if (*m > 0 && migrated == 0) before_migration = d.published();
    migrated += *m;
    for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(d.DispatchBucket(b).ok());
  }
  EXPECT_EQ(migrated, 1);                        // once: her refill entry went with the hand-over
  EXPECT_GT(before_migration, 0u);               // the legacy drain published the morning
  EXPECT_LT(before_migration, expected.size());  // and the per-plan path the rest
  EXPECT_EQ(store_.Backlog()->first, 0);         // nothing left in the old index
  EXPECT_EQ(store_.DuePlanCount()->first, 1);
  std::map<std::string, int> ids;
  for (const v1::Nudge& n : Outbox(&cursors)) ++ids[n.nudge_id()];
  EXPECT_EQ(ids.size(), expected.size());
  for (const Occurrence& o : expected) EXPECT_EQ(ids[o.nudge_id], 1) << o.nudge_id;
}

// Once the previous layout holds nothing, the workers stop claiming it (an idle replica's cost);
// old-layout data written later (an older replica during a rolling upgrade) turns it back on.
TEST_F(DeliveryTest, LegacyClaimsStopOnceDrainedAndResumeWhenWritten) {
  DispatcherOptions o;
  o.maintenance_interval = absl::Milliseconds(10);
  o.drained_maintenance_interval = absl::Milliseconds(50);
  Dispatcher d(&store_, &texts_, rules_, o);
  EXPECT_TRUE(d.legacy_active());
  auto wait_for = [&](bool active) {
    for (int i = 0; i < 500 && d.legacy_active() != active; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return d.legacy_active() == active;
  };
  d.Start();
  EXPECT_TRUE(wait_for(false));
  Schedule(MakePlan("ida", 0));  // the previous layout: every occurrence stored
  EXPECT_TRUE(wait_for(true));
  d.Stop();
}

TEST_F(DeliveryTest, AcknowledgedAndCancelledAreNotScheduled) {
  const Plan plan = MakePlan("bea", 0);
  const std::vector<Occurrence> occ = PlanOccurrences(plan, rules_, now_, now_ + absl::Hours(12));
  ASSERT_GE(occ.size(), 3u);
  ASSERT_TRUE(store_.Acknowledge("bea", occ[0].nudge_id, occ[0].due, now_ - absl::Hours(48)).ok());
  ASSERT_TRUE(store_.Cancel("bea", {occ[1].nudge_id}).ok());
  Schedule(plan);
  std::vector<std::string> cursors;
  Outbox(&cursors);
  Dispatcher d(&store_, &texts_, rules_, DispatcherOptions{});
  RunUntil(d, occ[2].due + absl::Minutes(5));
  std::set<std::string> ids;
  for (const v1::Nudge& n : Outbox(&cursors)) ids.insert(n.nudge_id());
  EXPECT_FALSE(ids.count(occ[0].nudge_id));
  EXPECT_FALSE(ids.count(occ[1].nudge_id));
  EXPECT_TRUE(ids.count(occ[2].nudge_id));
}

// Cancellations are remembered for kCancelMemory, then forgotten on the next write: her set does
// not grow over the days however often she logs water.
TEST_F(DeliveryTest, CancellationsAreForgottenAfterTheirMemory) {
  for (int day = 0; day < 30; ++day) {
    ASSERT_TRUE(
        store_.Cancel("fia", {absl::StrCat("hyd-", day, "-a"), absl::StrCat("hyd-", day, "-b")})
            .ok());
    now_ += absl::Hours(24);
  }
  auto state = store_.GetUserState("fia");
  ASSERT_TRUE(state.ok());
  // Days 26..29 remain of 30: the last 72 hours, both ends included.
  EXPECT_EQ(state->cancelled.size(), 8u);
}

TEST_F(DeliveryTest, MisfiredOccurrencesAreSkipped) {
  Schedule(MakePlan("cat", 0));
  now_ += absl::Hours(6);  // the replicas were down
  Dispatcher d(&store_, &texts_, rules_, DispatcherOptions{});
  std::vector<std::string> cursors;
  Outbox(&cursors);
  for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(d.DispatchBucket(b).ok());
  EXPECT_GT(d.skipped(), 0u);
  // Only occurrences within the misfire threshold (30 min) came out.
  for (const v1::Nudge& n : Outbox(&cursors)) {
    EXPECT_GE(absl::FromUnixSeconds(n.due_time().seconds()), now_ - absl::Minutes(30));
  }
}

TEST_F(DeliveryTest, HubHandsNudgesToTheirOwnerOnly) {
  const Plan dee = MakePlan("dee", 0);
  Schedule(dee);
  Schedule(MakePlan("eve", 0));
  // The listen marks run on the store's clock: stand just before her next nudge.
  const absl::Time first = PlanOccurrences(dee, rules_, now_, now_ + absl::Hours(24))[0].due;
  now_ = first - absl::Seconds(10);
  std::vector<std::string> cursors;
  Outbox(&cursors);
  NudgeHub hub(&store_);
  absl::Mutex mu;
  std::map<std::string, int> got;
  const uint64_t h1 = hub.Subscribe("dee", [&](const v1::Nudge& n, const std::string& feed_id) {
    EXPECT_FALSE(feed_id.empty());
    EXPECT_FALSE(n.resume_token().empty());
    absl::MutexLock l(&mu);
    EXPECT_EQ(n.user_id(), "dee");
    ++got["dee"];
  });
  hub.Start();
  absl::SleepFor(absl::Milliseconds(400));  // the hub marks her as listening
  Dispatcher d(&store_, &texts_, rules_, DispatcherOptions{});
  now_ = first + absl::Seconds(1);
  for (int b = 0; b < store_.num_buckets(); ++b) ASSERT_TRUE(d.DispatchBucket(b).ok());
  ASSERT_FALSE(Outbox(&cursors).empty());
  for (int i = 0; i < 50; ++i) {
    {
      absl::MutexLock l(&mu);
      if (got["dee"] > 0) break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  hub.Unsubscribe(h1);
  hub.Stop();
  EXPECT_EQ(hub.subscribers(), 0u);
  absl::MutexLock l(&mu);
  EXPECT_GT(got["dee"], 0);
  EXPECT_EQ(got.count("eve"), 0u);
}

TEST(NudgeTextProviderTest, WithoutContentServesBuiltInTextsPerLanguage) {
  NudgeTextProvider texts(nullptr);
  const auto en = texts.Get("");
  const auto es = texts.Get("es-419");
  EXPECT_EQ(en->locale, "en");
  EXPECT_EQ(es->locale, "es");
  EXPECT_TRUE(en->builtin);
  for (const NudgeKindInfo& k : kNudgeKinds) {
    EXPECT_EQ(en->For(k.kind).title, FallbackFor(k.kind, "en").title);
    EXPECT_EQ(es->For(k.kind).title, FallbackFor(k.kind, "es").title);
  }
  EXPECT_EQ(texts.Get("fr")->locale, "en");
}

// An idle dispatcher sleeps up to max_idle_wait (an hour here) between claims of a bucket; a write
// that makes someone due sooner (a snooze) wakes it, so her nudge is published when due, not an
// hour late.
TEST(DispatcherWakeTest, AWriteThatMakesHerDueSoonerWakesAnIdleDispatcher) {
  MemoryReminderStore store(4);
  store.set_wake_within(absl::Hours(1));
  ScheduleRules rules;
  NudgeTextProvider texts(nullptr);
  DispatcherOptions o;
  o.max_idle_wait = absl::Hours(1);
  o.drain_legacy = false;
  Dispatcher d(&store, &texts, rules, o);
  std::vector<std::string> cursors;
  ASSERT_TRUE(store.ReadOutbox(&cursors, 10, absl::ZeroDuration()).ok());
  d.Start();
  absl::SleepFor(absl::Milliseconds(300));  // every bucket claimed once, found empty: idle

  const v1::ReminderPlan proto = AlwaysAwakePlan("wen");
  absl::StatusOr<Plan> plan = PlanFromProto(proto);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(store.CreatePlan(proto, "", "").ok());
  const absl::Time now = absl::Now();
  // A one-minute snooze made 59 s ago: due in one second.
  const Occurrence snooze =
      MakeSnoozeOccurrence(*plan, NudgeKind::kHydration, now - absl::Seconds(59), 1);
  ASSERT_TRUE(store.AddSnooze("wen", ToScheduled(*plan, snooze), now - absl::Hours(1)).ok());
  ASSERT_TRUE(store.WakePlan(UserKey("wen"), snooze.due, now).ok());

  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    auto entries = store.ReadOutbox(&cursors, 100, absl::Milliseconds(100));
    ASSERT_TRUE(entries.ok());
    for (const OutboxEntry& e : *entries) seen = seen || e.nudge_id == snooze.nudge_id;
  }
  d.Stop();
  EXPECT_TRUE(seen) << "the snooze was not published within 10 s";
  EXPECT_GE(absl::Now(), snooze.due);
}

}  // namespace
}  // namespace legwise::reminder
