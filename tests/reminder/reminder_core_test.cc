// The pure reminder core: the nudge-kind table, texts rendered for her plan, signed page tokens,
// and the per-user bounds (acknowledgement window, pending snoozes, daily water cap).
#include "services/reminder/core/reminder_core.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/validation.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/planner/nudge_kinds.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/planner/planner.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), absl::UTCTimeZone());
}

v1::ReminderPlan ProtoPlan(const std::string& user, int32_t water_ml = 0) {
  v1::ReminderPlan p;
  p.set_user_id(user);
  p.set_time_zone("Europe/London");
  p.mutable_wake_time()->set_hours(7);
  p.mutable_sleep_time()->set_hours(22);
  p.add_kinds(v1::NUDGE_KIND_HYDRATION);
  p.add_kinds(v1::NUDGE_KIND_STRETCHING);
  p.set_daily_water_target_ml(water_ml);
  return p;
}

class CoreTest : public ::testing::Test {
 protected:
  CoreTest() : signer_("core-test-key-0123456789"), core_({}, {}, &signer_) {}

  ValidPlan Make(const std::string& user, int32_t water_ml = 0) {
    absl::StatusOr<ValidPlan> p = core_.NewPlan(ProtoPlan(user, water_ml), now_);
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }

  absl::Time now_ = Utc(2026, 6, 10, 9, 0);  // 10:00 in London
  PageTokenSigner signer_;
  ReminderCore core_;
};

TEST(NudgeKindTableTest, MatchesTheProtoEnumAndHasUniqueCodes) {
  std::set<std::string> codes, names;
  std::set<int> priorities;
  const auto* desc = v1::NudgeKind_descriptor();
  EXPECT_EQ(desc->value_count(), kNumNudgeKinds + 1);  // + UNSPECIFIED
  for (const NudgeKindInfo& k : kNudgeKinds) {
    EXPECT_TRUE(codes.insert(k.code).second) << k.code;
    EXPECT_TRUE(names.insert(k.name).second) << k.name;
    EXPECT_TRUE(priorities.insert(k.cap_priority).second) << k.name;
    const auto* v = desc->FindValueByNumber(static_cast<int>(k.kind));
    ASSERT_NE(v, nullptr);
    std::string expect = std::string("NUDGE_KIND_") + k.name;
    for (char& c : expect) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(v->name(), expect);
    EXPECT_EQ(KindByCode(k.code), &k);
    EXPECT_EQ(KindByName(k.name), &k);
    EXPECT_TRUE(IsNudgeKind(static_cast<int>(k.kind)));
    for (const char* loc : {"en", "es"}) {
      EXPECT_NE(std::string(FallbackFor(k.kind, loc).title), "");
      EXPECT_EQ(std::string(FallbackFor(k.kind, loc).locale), loc);
    }
  }
  EXPECT_FALSE(IsNudgeKind(0));
  EXPECT_FALSE(IsNudgeKind(kNumNudgeKinds + 1));
}

TEST(NudgeTextsTest, HydrationTextUsesHerOwnTarget) {
  EXPECT_EQ(FormatWaterAmount(1000, "en"), "1 litre");
  EXPECT_EQ(FormatWaterAmount(2300, "en"), "2.3 litres");
  EXPECT_EQ(FormatWaterAmount(2300, "es-MX"), "2,3 litros");
  EXPECT_EQ(FormatWaterAmount(1250, "en"), "1250 ml");
  for (const char* loc : {"en", "es"}) {
    const auto texts = BuiltinNudgeTexts(loc);
    const NudgeText t = texts->Render(NudgeKind::kHydration, 1000);
    EXPECT_EQ(t.body.find("2.3"), std::string::npos) << t.body;
    EXPECT_EQ(t.body.find("2,3"), std::string::npos) << t.body;
    EXPECT_EQ(t.body.find("{daily_target}"), std::string::npos) << t.body;
    EXPECT_NE(t.body.find(std::string(loc) == "en" ? "1 litre" : "1 litro"), std::string::npos)
        << t.body;
  }
}

TEST_F(CoreTest, PlanIsValidatedOnceAndStamped) {
  v1::ReminderPlan bad = ProtoPlan("u1");
  bad.set_time_zone("Mars/Olympus");
  absl::StatusOr<ValidPlan> p = core_.NewPlan(bad, now_);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  ValidPlan ok = Make("u1");
  EXPECT_FALSE(ok.proto.etag().empty());
  EXPECT_EQ(ok.proto.create_time().seconds(), absl::ToUnixSeconds(now_));
  // Update: the client's stale etag is ABORTED; create_time is kept.
  ValidPlan next = Make("u1", 1500);
  EXPECT_EQ(core_.ReplacePlan(next, "stale", ok.proto, now_ + absl::Hours(1)).status().code(),
            absl::StatusCode::kAborted);
  absl::StatusOr<ValidPlan> r =
      core_.ReplacePlan(next, ok.proto.etag(), ok.proto, now_ + absl::Hours(1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->proto.create_time().seconds(), absl::ToUnixSeconds(now_));
  EXPECT_NE(r->proto.etag(), ok.proto.etag());
}

TEST_F(CoreTest, PagesCoverTheWindowOnceAndTamperedTokensAreRefused) {
  const ValidPlan plan = Make("u1");
  ListQuery q;
  q.has_start = true;
  q.start = now_;
  q.has_end = true;
  q.end = now_ + absl::Hours(72);
  std::vector<std::string> ids;
  std::vector<std::string> tokens;
  while (true) {
    absl::StatusOr<ReminderCore::Window> w = core_.ListWindow(q, "u1", now_);
    ASSERT_TRUE(w.ok()) << w.status();
    std::string next;
    for (const v1::Nudge& n : core_.List(plan, {}, *w, 4, &next)) ids.push_back(n.nudge_id());
    if (next.empty()) break;
    tokens.push_back(next);
    q.page_token = next;
  }
  const std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
  ListQuery all = q;
  all.page_token.clear();
  std::string next;
  absl::StatusOr<ReminderCore::Window> w = core_.ListWindow(all, "u1", now_);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(core_.List(plan, {}, *w, 200, &next).size(), ids.size());

  // Every single-character edit of every token: INVALID_ARGUMENT.
  ASSERT_FALSE(tokens.empty());
  int refused = 0, tried = 0;
  for (const std::string& t : tokens) {
    for (size_t i = 0; i < t.size(); ++i) {
      std::string e = t;
      e[i] = e[i] == 'A' ? 'B' : 'A';
      ListQuery tq = q;
      tq.page_token = e;
      ++tried;
      if (core_.ListWindow(tq, "u1", now_).status().code() == absl::StatusCode::kInvalidArgument) {
        ++refused;
      }
    }
    // Another user's token.
    ListQuery other = q;
    other.page_token = t;
    EXPECT_EQ(core_.ListWindow(other, "u2", now_).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(refused, tried);
}

TEST_F(CoreTest, AcknowledgementsOnlyForHerScheduleAroundNow) {
  const ValidPlan plan = Make("u1");
  const std::vector<Occurrence> today =
      PlanOccurrences(plan.plan, core_.rules(), now_ - absl::Hours(3), now_ + absl::Hours(3));
  ASSERT_FALSE(today.empty());
  EXPECT_TRUE(core_.CheckAcknowledge(plan, {}, today[0].nudge_id, now_).ok());
  // Well-formed, hers, but years away: FAILED_PRECONDITION naming the window.
  const std::string far = MakeNudgeId("u1", NudgeKind::kHydration, absl::CivilDay(2031, 1, 1), 2);
  absl::StatusOr<absl::Time> s = core_.CheckAcknowledge(plan, {}, far, now_);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(s.status()), "ACK_WINDOW");
  // A slot her plan does not have (slot 40 of a 10-glass day).
  const std::string no_slot = MakeNudgeId("u1", NudgeKind::kHydration, today[0].plan_day, 40);
  EXPECT_EQ(core_.CheckAcknowledge(plan, {}, no_slot, now_).status().code(),
            absl::StatusCode::kNotFound);
  // A kind she did not ask for.
  const std::string bed = MakeNudgeId("u1", NudgeKind::kBedtimeStretch, today[0].plan_day, 0);
  EXPECT_EQ(core_.CheckAcknowledge(plan, {}, bed, now_).status().code(),
            absl::StatusCode::kNotFound);
  // Someone else's id, and garbage.
  EXPECT_EQ(core_
                .CheckAcknowledge(
                    plan, {}, MakeNudgeId("u2", NudgeKind::kHydration, today[0].plan_day, 0), now_)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(core_.CheckAcknowledge(plan, {}, "hyd-x", now_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CoreTest, PendingSnoozesAreCapped) {
  const ValidPlan plan = Make("u1");
  UserState state;
  const std::string id =
      PlanOccurrences(plan.plan, core_.rules(), now_, now_ + absl::Hours(6))[0].nudge_id;
  for (int i = 0; i < core_.limits().max_pending_snoozes; ++i) {
    absl::StatusOr<Occurrence> o = core_.Snooze(plan, state, id, i + 1, now_);
    ASSERT_TRUE(o.ok()) << i << " " << o.status();
    state.snoozes.push_back(ReminderCore::ToNudge(plan.plan, *o));
  }
  absl::StatusOr<Occurrence> over = core_.Snooze(plan, state, id, 200, now_);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(over.status()), "SNOOZE_LIMIT");
  // The same snooze again is not a new one.
  EXPECT_TRUE(core_.Snooze(plan, state, id, 1, now_).ok());
  // Once they are past, new ones fit again.
  EXPECT_TRUE(core_.Snooze(plan, state, id, 5, now_ + absl::Hours(5)).ok());
}

TEST_F(CoreTest, DailyWaterIsCappedWithoutOverflow) {
  const ValidPlan plan = Make("u1", 1000);
  EXPECT_TRUE(core_.CheckWater(0, 2000).ok());
  EXPECT_TRUE(core_.CheckWater(8000, 2000).ok());
  absl::Status s = core_.CheckWater(8001, 2000);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(s), "WATER_DAILY_CAP");
  EXPECT_FALSE(core_.CheckWater(int64_t{1} << 40, 1).ok());
  const absl::CivilDay day = PlanDayOf(plan.plan, now_);
  WaterResult r = core_.AfterWater(plan, day, 999, now_);
  EXPECT_FALSE(r.target_reached);
  EXPECT_TRUE(r.drop.empty());
  r = core_.AfterWater(plan, day, 1000, now_);
  EXPECT_TRUE(r.target_reached);
  EXPECT_EQ(r.target_ml, 1000);
  EXPECT_FALSE(r.drop.empty());
  r = core_.AfterWater(plan, day, int64_t{1} << 40, now_);
  EXPECT_TRUE(r.target_reached);
}

// DueForDispatch plans unlabelled and labels only what it publishes or checks; for any watermark,
// now, misfire threshold and state it must answer exactly what filtering the fully labelled
// occurrences gives (the same ids is what makes a claim taken over publish the same nudges).
TEST(DueForDispatchTest, AnswersWhatTheLabelledPlanGivesForAnyWindowAndState) {
  const ScheduleRules rules;
  std::mt19937 rng(15);
  int published = 0, skipped = 0;
  for (const char* zone : {"Europe/London", "America/Sao_Paulo", "Asia/Kolkata"}) {
    v1::ReminderPlan proto = ProtoPlan("due-user");
    proto.set_time_zone(zone);
    proto.add_kinds(v1::NUDGE_KIND_MOVEMENT_BREAK);
    proto.add_kinds(v1::NUDGE_KIND_BEDTIME_STRETCH);
    v1::WorkShift* shift = proto.add_work_shifts();
    shift->add_days(v1::DAY_OF_WEEK_MONDAY);
    shift->add_days(v1::DAY_OF_WEEK_WEDNESDAY);
    shift->mutable_start()->set_hours(8);
    shift->mutable_end()->set_hours(16);
    shift->set_standing(true);
    absl::StatusOr<Plan> plan = PlanFromProto(proto);
    ASSERT_TRUE(plan.ok()) << plan.status();
    for (int round = 0; round < 200; ++round) {
      // Around the March DST change in Europe, over a few days.
      const absl::Time now = Utc(2026, 3, 27, 0, 0) + absl::Minutes(rng() % (5 * 24 * 60));
      const absl::Time watermark = now - absl::Minutes(rng() % (3 * 24 * 60));
      const absl::Duration misfire = absl::Minutes(rng() % 120);
      const absl::Time not_before = now - absl::Minutes(rng() % (4 * 24 * 60));
      std::vector<Occurrence> all =
          PlanOccurrences(*plan, rules, now - absl::Hours(72), now + absl::Hours(25));
      UserState state;
      for (const Occurrence& o : all) {
        if (rng() % 4 == 0) state.acknowledged.push_back(o.nudge_id);
        if (rng() % 6 == 0) state.cancelled.push_back(o.nudge_id);
      }
      // The reference: every labelled occurrence, filtered.
      std::set<std::string> skip(state.acknowledged.begin(), state.acknowledged.end());
      skip.insert(state.cancelled.begin(), state.cancelled.end());
      const absl::Time bound = now - std::max(misfire + absl::Hours(1), absl::Hours(48));
      const absl::Time start = std::max({watermark, bound, not_before});
      std::vector<std::string> want;
      int want_misfired = 0;
      absl::Time want_next = now + absl::Hours(24);
      bool found_next = false;
      for (const Occurrence& o :
           PlanOccurrences(*plan, rules, start, now + absl::Hours(24) + absl::Milliseconds(1))) {
        if (o.due <= watermark || skip.count(o.nudge_id)) continue;
        if (o.due <= now) {
          if (o.due < now - misfire) {
            ++want_misfired;
          } else {
            want.push_back(o.nudge_id);
          }
        } else if (!found_next) {
          want_next = o.due;
          found_next = true;
        }
      }
      const DueWork got = DueForDispatch(*plan, rules, state, watermark, now, misfire, not_before);
      std::vector<std::string> got_ids;
      for (const v1::Nudge& n : got.publish) {
        got_ids.push_back(n.nudge_id());
        EXPECT_FALSE(n.local_time().empty());
      }
      std::sort(want.begin(), want.end());
      std::vector<std::string> sorted_got = got_ids;
      std::sort(sorted_got.begin(), sorted_got.end());
      ASSERT_EQ(sorted_got, want) << zone << " round " << round;
      EXPECT_EQ(got.misfired, want_misfired) << zone << " round " << round;
      EXPECT_EQ(got.next_due, want_next) << zone << " round " << round;
      published += static_cast<int>(want.size());
      skipped += want_misfired;
    }
  }
  EXPECT_GT(published, 100);  // the rounds did cover windows with something to publish
  EXPECT_GT(skipped, 10);
}

}  // namespace
}  // namespace legwise::reminder
