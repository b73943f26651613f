// Upgrade in place, from outside: a Redis holding the data of every earlier layout (occurrences
// stored one by one in the per-occurrence due index with a refill entry, her state in the
// unbounded sets / hash of the first layout and in the per-kind sorted sets of the second) is
// served by a freshly started legwise-reminder executable. She is handed over to the per-plan due
// index, her earlier acknowledgements, cancellations and snoozes still count, every occurrence
// reaches the outbox exactly once, and a replica killed with -9 and restarted sends nothing twice.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "services/common/redis_client.h"
#include "services/reminder/delivery/scheduling.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/store/redis_store.h"
#include "tests/reminder/test_plans.h"
#include "tests/support/process.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;
using ::legwise::testing::RedisServer;
using ::legwise::testing::ServiceProcess;

// How often the outbox holds each nudge id.
std::map<std::string, int> OutboxIds(RedisClient& client, int buckets) {
  std::map<std::string, int> seen;
  for (int b = 0; b < buckets; ++b) {
    auto r = client.Command({"XRANGE", RedisReminderStore::OutboxKey(b), "-", "+"});
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) continue;
    for (const RedisReply& entry : r->elements) {
      const auto& f = entry.elements[1].elements;
      for (size_t i = 0; i + 1 < f.size(); i += 2) {
        if (f[i].str == "nudge_id") seen[f[i + 1].str]++;
      }
    }
  }
  return seen;
}

TEST(ReminderUpgrade, NewExecutableServesDataOfEveryEarlierLayout) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  RedisOptions ro;
  ro.address = redis.address();
  ro.command_timeout = absl::Seconds(5);
  auto client = std::make_shared<RedisClient>(ro);
  RedisReminderStore store(client);
  const ScheduleRules rules;

  const std::string user = "upgrade-user";
  const v1::ReminderPlan proto = AlwaysAwakePlan(user);
  absl::StatusOr<Plan> plan = PlanFromProto(proto);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(store.CreatePlan(proto, "", "").ok());

  const absl::Time now = absl::Now();
  const std::vector<Occurrence> upcoming =
      PlanOccurrences(*plan, rules, now + absl::Minutes(1), now + absl::Hours(10));
  ASSERT_GE(upcoming.size(), 4u);
  // Her state as the earlier layouts wrote it: the first (sets, a hash) and the second (one
  // sorted set per kind).
  const std::string uk = UserKey(user);
  const std::string up = "rm:{u" + uk + "}:";
  const Occurrence snooze_old =
      MakeSnoozeOccurrence(*plan, NudgeKind::kHydration, now - absl::Seconds(56), 1);
  const Occurrence snooze_prev =
      MakeSnoozeOccurrence(*plan, NudgeKind::kStretching, now - absl::Seconds(54), 1);
  const ScheduledNudge sn_old = ToScheduled(*plan, snooze_old);
  const ScheduledNudge sn_prev = ToScheduled(*plan, snooze_prev);
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"SADD", up + "ack", upcoming[0].nudge_id},
           {"ZADD", up + "acks", absl::StrCat(absl::ToUnixMillis(upcoming[1].due)),
            upcoming[1].nudge_id},
           {"SADD", up + "cancel", upcoming[2].nudge_id},
           {"ZADD", up + "cancels", absl::StrCat(absl::ToUnixMillis(now)), upcoming[3].nudge_id},
           {"HSET", up + "snooze", snooze_old.nudge_id, sn_old.payload},
           {"ZADD", up + "snoozes", absl::StrCat(absl::ToUnixMillis(snooze_prev.due)),
            sn_prev.payload}}) {
    auto r = client->Command(cmd);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Her occurrences stored one by one (48 h, leaving out what her state excludes, as that version
  // scheduled them), the snoozes among them, and her refill entry due now: the maintenance pass
  // hands her over to the per-plan index.
  ASSERT_TRUE(ScheduleHorizon(store, rules, *plan, now, absl::Hours(48), false).ok());
  ASSERT_TRUE(store.Schedule(user, {sn_old, sn_prev}, now, false, now - absl::Seconds(1)).ok());
  ASSERT_GT(store.Backlog()->first, 0);
  ASSERT_EQ(store.DuePlanCount()->first, 0);

  ServiceProcess svc("legwise-reminder",
                     {"--redis_addr=" + redis.address(), "--content_addr=127.0.0.1:1",
                      "--legacy_check_interval=1s"});
  ASSERT_TRUE(svc.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(svc.channel().get(), "", true, absl::Seconds(20)).ok());

  // Both snoozes come due within seconds; each is published once.
  std::map<std::string, int> seen;
  for (const absl::Time give_up = absl::Now() + absl::Seconds(30); absl::Now() < give_up;) {
    seen = OutboxIds(*client, store.num_buckets());
    if (seen.count(snooze_old.nudge_id) && seen.count(snooze_prev.nudge_id)) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(seen[snooze_old.nudge_id], 1);
  EXPECT_EQ(seen[snooze_prev.nudge_id], 1);
  // Handed over: in the per-plan index, nothing of hers left pending in the per-occurrence one.
  EXPECT_EQ(store.DuePlanCount()->first, 1);
  auto backlog = store.Backlog();
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(backlog->first, 0);
  EXPECT_EQ(backlog->second, 0);

  // The listing still honours what the earlier layouts recorded.
  auto stub = v1::ReminderService::NewStub(svc.channel());
  v1::ListUpcomingNudgesRequest lr;
  lr.set_user_id(user);
  lr.set_page_size(100);
  v1::ListUpcomingNudgesResponse lresp;
  grpc::ClientContext lc;
  lc.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::Status ls = stub->ListUpcomingNudges(&lc, lr, &lresp);
  ASSERT_TRUE(ls.ok()) << ls.error_message();
  std::map<std::string, const v1::Nudge*> listed;
  for (const v1::Nudge& n : lresp.nudges()) listed[n.nudge_id()] = &n;
  ASSERT_TRUE(listed.count(upcoming[0].nudge_id));
  EXPECT_TRUE(listed[upcoming[0].nudge_id]->acknowledged());  // first layout's ack set
  ASSERT_TRUE(listed.count(upcoming[1].nudge_id));
  EXPECT_TRUE(listed[upcoming[1].nudge_id]->acknowledged());  // second layout's acks
  EXPECT_FALSE(listed.count(upcoming[2].nudge_id));           // cancel set
  EXPECT_FALSE(listed.count(upcoming[3].nudge_id));           // cancels

  // A replica killed without warning and started again sends nothing twice.
  svc.Kill();
  ASSERT_TRUE(svc.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(svc.channel().get(), "", true, absl::Seconds(20)).ok());
  absl::SleepFor(absl::Seconds(3));
  seen = OutboxIds(*client, store.num_buckets());
  int duplicates = 0;
  for (const auto& [id, n] : seen) duplicates += n > 1;
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(seen[snooze_old.nudge_id], 1);
  EXPECT_EQ(seen[snooze_prev.nudge_id], 1);
}

}  // namespace
}  // namespace legwise::reminder
