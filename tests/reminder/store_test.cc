// The ReminderStore contract, run against both implementations: the Redis store on a real
// redis-server (its Lua scripts) and the in-memory store. Claim / lease / publish / reap / misfire,
// scheduling dedup and replacement, plan CRUD with etags and idempotent create.
#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/redis_client.h"
#include "services/reminder/store/memory_store.h"
#include "services/reminder/store/redis_store.h"
#include "tests/support/process.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      redis_ = std::make_unique<testing::RedisServer>();
      ASSERT_TRUE(redis_->Start().ok());
      RedisOptions o;
      o.address = redis_->address();
      o.command_timeout = absl::Seconds(5);
      client_ = std::make_shared<RedisClient>(o);
      store_ = std::make_unique<RedisReminderStore>(client_);
    } else {
      store_ = std::make_unique<MemoryReminderStore>(4);
    }
  }

  ScheduledNudge Nudge(const std::string& id, absl::Time due) {
    v1::Nudge n;
    n.set_nudge_id(id);
    n.set_user_id("u1");
    return {id, due, n.SerializeAsString()};
  }

  // u1 in the per-occurrence layout: "past" (30 s ago), "soon" (in 10 min), "later" (in 5 h).
  void ScheduleEarlierLayoutUser(absl::Time now) {
    ASSERT_TRUE(store_
                    ->Schedule("u1",
                               {Nudge("past", now - absl::Seconds(30)),
                                Nudge("soon", now + absl::Minutes(10)),
                                Nudge("later", now + absl::Hours(5))},
                               now - absl::Minutes(1), false, now - absl::Seconds(1))
                    .ok());
  }

  // The users of every bucket's refill index (claimed for a minute).
  std::set<std::string> ClaimAllRefills() {
    std::set<std::string> out;
    for (int b = 0; b < store_->num_buckets(); ++b) {
      auto r = store_->ClaimRefills(b, 100, absl::Minutes(1));
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) out.insert(r->begin(), r->end());
    }
    return out;
  }

  // Claims in every bucket until something comes back.
  ClaimResult ClaimAll(const std::string& token, absl::Duration lease, int* bucket) {
    ClaimResult total;
    for (int b = 0; b < store_->num_buckets(); ++b) {
      auto r = store_->Claim(b, 100, token, lease, absl::Minutes(30));
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) continue;
      total.skipped += r->skipped;
      for (auto& c : r->claimed) {
        *bucket = b;
        total.claimed.push_back(c);
      }
    }
    return total;
  }

  std::unique_ptr<testing::RedisServer> redis_;
  std::shared_ptr<RedisClient> client_;  // the Redis store's
  std::unique_ptr<ReminderStore> store_;
};

TEST_P(StoreTest, ClaimPublishOnceMisfireSkip) {
  const absl::Time now = absl::Now();
  auto added =
      store_->Schedule("u1",
                       {Nudge("old", now - absl::Hours(1)), Nudge("due", now - absl::Seconds(1)),
                        Nudge("later", now + absl::Hours(1))},
                       now - absl::Hours(2), false, absl::InfinitePast());
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 3);

  std::vector<std::string> cursors;
  ASSERT_TRUE(store_->ReadOutbox(&cursors, 100, absl::ZeroDuration()).ok());  // start at the end

  int bucket = -1;
  ClaimResult c = ClaimAll("A:1", absl::Seconds(30), &bucket);
  EXPECT_EQ(c.skipped, 1);  // "old" is past the 30 min misfire threshold: skipped, not delivered
  ASSERT_EQ(c.claimed.size(), 1u);
  EXPECT_EQ(c.claimed[0].member, MemberOf(UserKey("u1"), "due"));
  // Nothing more is due; a second claimer gets nothing.
  EXPECT_TRUE(ClaimAll("B:1", absl::Seconds(30), &bucket).claimed.empty());

  PublishItem item{c.claimed[0].member, "due", UserKey("u1"), c.claimed[0].payload};
  EXPECT_EQ(*store_->Publish(bucket, "B:1", {item}), 0);  // not B's lease
  EXPECT_EQ(*store_->Publish(bucket, "A:1", {item}), 1);
  EXPECT_EQ(*store_->Publish(bucket, "A:1", {item}), 0);  // published once only

  auto out = store_->ReadOutbox(&cursors, 100, absl::Milliseconds(100));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].nudge_id, "due");
  EXPECT_EQ((*out)[0].user_key, UserKey("u1"));
  EXPECT_EQ((*out)[0].due_ms, absl::ToUnixMillis(now - absl::Seconds(1)));
  EXPECT_GE((*out)[0].published_ms, (*out)[0].due_ms);

  // Scheduling the same occurrences again adds nothing (a refill never repeats a nudge).
  added = store_->Schedule(
      "u1", {Nudge("due", now - absl::Seconds(1)), Nudge("later", now + absl::Hours(1))}, now,
      false, absl::InfinitePast());
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 0);
  auto backlog = store_->Backlog();
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(backlog->first, 1);  // "later"
  EXPECT_EQ(backlog->second, 0);
}

// The live log holds only what is published for users someone listens for, while they do.
TEST_P(StoreTest, LiveLogCarriesOnlyListeningUsers) {
  const absl::Time now = absl::Now();
  auto nudge_of = [&](const std::string& user, const std::string& id) {
    v1::Nudge n;
    n.set_nudge_id(id);
    n.set_user_id(user);
    return ScheduledNudge{id, now - absl::Seconds(1), n.SerializeAsString()};
  };
  std::vector<std::string> live_cursors;
  ASSERT_TRUE(store_->ReadLive(&live_cursors, 100, absl::ZeroDuration()).ok());
  ASSERT_TRUE(store_->Listen({UserKey("listener")}, absl::Seconds(30)).ok());
  ASSERT_TRUE(store_->Listen({UserKey("gone")}, absl::Milliseconds(1)).ok());
  absl::SleepFor(absl::Milliseconds(20));  // "gone" stopped listening (server clock for Redis)
  for (const std::string user : {"listener", "gone", "other"}) {
    ASSERT_TRUE(store_
                    ->Schedule(user, {nudge_of(user, user + "-1"), nudge_of(user, user + "-2")},
                               now - absl::Hours(1), false, absl::InfinitePast())
                    .ok());
  }
  int published = 0;
  for (int b = 0; b < store_->num_buckets(); ++b) {
    auto claim = store_->Claim(b, 100, "T:" + std::to_string(b), absl::Seconds(30), absl::Hours(1));
    ASSERT_TRUE(claim.ok()) << claim.status();
    std::vector<PublishItem> items;
    for (const ClaimedNudge& c : claim->claimed) {
      const size_t colon = c.member.find(':');
      items.push_back({c.member, c.member.substr(colon + 1), c.member.substr(0, colon), c.payload});
    }
    auto n = store_->Publish(b, "T:" + std::to_string(b), items);
    ASSERT_TRUE(n.ok()) << n.status();
    published += *n;
  }
  EXPECT_EQ(published, 6);
  auto live = store_->ReadLive(&live_cursors, 100, absl::Milliseconds(100));
  ASSERT_TRUE(live.ok()) << live.status();
  std::vector<std::string> ids;
  for (const OutboxEntry& e : *live) {
    EXPECT_EQ(e.user_key, UserKey("listener"));
    ids.push_back(e.nudge_id);
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"listener-1", "listener-2"}));
}

TEST_P(StoreTest, ExpiredLeaseIsReapedAndOnlyTheNewOwnerPublishes) {
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store_
                  ->Schedule("u1", {Nudge("n", now - absl::Seconds(1))}, now - absl::Hours(1),
                             false, absl::InfinitePast())
                  .ok());
  int bucket = -1;
  ClaimResult a = ClaimAll("A:1", absl::Milliseconds(50), &bucket);
  ASSERT_EQ(a.claimed.size(), 1u);
  absl::SleepFor(absl::Milliseconds(120));
  auto reaped = store_->Reap(bucket, 100);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  ClaimResult b = ClaimAll("B:1", absl::Seconds(30), &bucket);
  ASSERT_EQ(b.claimed.size(), 1u);
  EXPECT_EQ(b.claimed[0].due_ms, a.claimed[0].due_ms);  // back with its own due time
  PublishItem item{a.claimed[0].member, "n", UserKey("u1"), a.claimed[0].payload};
  EXPECT_EQ(*store_->Publish(bucket, "A:1", {item}), 0);  // A lost its lease
  EXPECT_EQ(*store_->Publish(bucket, "B:1", {item}), 1);
}

TEST_P(StoreTest, ReplaceCancelAndDelete) {
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store_
                  ->Schedule("u1",
                             {Nudge("x", now + absl::Hours(1)), Nudge("y", now + absl::Hours(2))},
                             now, false, now + absl::Hours(24))
                  .ok());
  auto added =
      store_->Schedule("u1", {Nudge("y", now + absl::Hours(2)), Nudge("z", now + absl::Hours(3))},
                       now, true, now + absl::Hours(24));
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 2);
  EXPECT_EQ(store_->Backlog()->first, 2);  // x replaced away; y and z pending
  // Occurrences are derived from the plan, so Cancel counts what was not cancelled before (both
  // ids); y also leaves the per-occurrence index it was scheduled in.
  auto cancelled = store_->Cancel("u1", {"y", "nope"});
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(*cancelled, 2);
  EXPECT_EQ(*store_->Cancel("u1", {"y"}), 0);  // already cancelled
  auto state = store_->GetUserState("u1");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->cancelled.size(), 2u);
  EXPECT_EQ(store_->Backlog()->first, 1);

  v1::ReminderPlan plan;
  plan.set_user_id("u1");
  plan.set_etag("e1");
  ASSERT_TRUE(store_->CreatePlan(plan, "r1", "h1").ok());
  EXPECT_EQ(store_->CreatePlan(plan, "r1", "h1")->etag(), "e1");  // idempotent retry
  // The same request id with another request (AIP-155).
  EXPECT_EQ(store_->CreatePlan(plan, "r1", "h2").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreatePlan(plan, "r2", "h1").status().code(), absl::StatusCode::kAlreadyExists);
  plan.set_etag("e2");
  EXPECT_EQ(store_->ReplacePlan(plan, "wrong").code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(store_->ReplacePlan(plan, "e1").ok());
  EXPECT_EQ(store_->GetPlan("u1")->etag(), "e2");
  EXPECT_EQ(store_->GetPlanByKey(UserKey("u1"))->etag(), "e2");
  EXPECT_TRUE(store_->DeletePlan("u1").ok());
  EXPECT_EQ(store_->GetPlan("u1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeletePlan("u1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Backlog()->first, 0);  // her pending occurrences went with the plan

  auto w1 = store_->AddWater("u2", absl::CivilDay(2026, 3, 8), 500, 10000);
  auto w2 = store_->AddWater("u2", absl::CivilDay(2026, 3, 8), 250, 10000);
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ(w1->total_ml, 500);
  EXPECT_EQ(w2->total_ml, 750);
  EXPECT_FALSE(w2->refused);
}

// Her state is bounded whatever she sends: acknowledgements and snoozes older than the window are
// forgotten on the next write, and the water total stops at its cap (64-bit, no wrap).
TEST_P(StoreTest, PerUserStateStaysBounded) {
  const absl::Time now = absl::Now();
  for (int i = 0; i < 300; ++i) {
    const absl::Time due = now - absl::Hours(300) + absl::Hours(i);
    ASSERT_TRUE(store_->Acknowledge("u3", absl::StrCat("a", i), due, due - absl::Hours(48)).ok());
    ScheduledNudge sn{absl::StrCat("s", i), due, absl::StrCat("payload", i)};
    ASSERT_TRUE(store_->AddSnooze("u3", sn, due - absl::Hours(48)).ok());
  }
  auto state = store_->GetUserState("u3");
  ASSERT_TRUE(state.ok());
  // Only the last 48 hours' (49 entries: both ends inclusive) remain of 300.
  EXPECT_EQ(state->acknowledged.size(), 49u);
  EXPECT_EQ(state->snoozes.size(), 49u);
  EXPECT_EQ(state->acknowledged.back(), "a299");

  const absl::CivilDay day(2026, 3, 9);
  int64_t total = 0;
  for (int i = 0; i < 10; ++i) {
    auto w = store_->AddWater("u3", day, 2000, 10000);
    ASSERT_TRUE(w.ok());
    if (!w->refused) total = w->total_ml;
    EXPECT_EQ(w->refused, i >= 5) << i;
    EXPECT_EQ(w->total_ml, 10000 * (i >= 4) + 2000 * (i + 1) * (i < 4));
  }
  EXPECT_EQ(total, 10000);
  // A cap above 2^31: no int32 wrap.
  const absl::CivilDay big(2026, 3, 10);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_->AddWater("u3", big, 2000000000, int64_t{1} << 40).ok());
  }
  EXPECT_EQ(store_->AddWater("u3", big, 1, int64_t{1} << 40)->total_ml, 6000000001LL);
}

TEST_P(StoreTest, RefillIsLeasedToOneCaller) {
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store_->Schedule("u1", {}, now, false, now - absl::Seconds(1)).ok());
  const int b = UserBucket(UserKey("u1"), store_->num_buckets());
  auto first = store_->ClaimRefills(b, 10, absl::Minutes(1));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0], UserKey("u1"));
  EXPECT_TRUE(store_->ClaimRefills(b, 10, absl::Minutes(1))->empty());
}

// The delivery feed: every published nudge has a feed id, in order; ReplayFeed returns hers after
// one of them, and nobody else's.
TEST_P(StoreTest, ReplayFeedReturnsHerNudgesAfterAFeedId) {
  const absl::Time now = absl::Now();
  std::vector<ScheduledNudge> mine, theirs;
  for (int i = 0; i < 5; ++i) {
    mine.push_back(Nudge(absl::StrCat("m", i), now - absl::Seconds(10 - i)));
    theirs.push_back(Nudge(absl::StrCat("t", i), now - absl::Seconds(10 - i)));
  }
  ASSERT_TRUE(store_->Schedule("u1", mine, now - absl::Hours(1), false, absl::InfinitePast()).ok());
  ASSERT_TRUE(
      store_->Schedule("u2", theirs, now - absl::Hours(1), false, absl::InfinitePast()).ok());
  std::vector<std::string> cursors;
  ASSERT_TRUE(store_->ReadOutbox(&cursors, 100, absl::ZeroDuration()).ok());
  for (int b = 0; b < store_->num_buckets(); ++b) {
    auto c = store_->Claim(b, 100, "tok", absl::Minutes(1), absl::Minutes(30));
    ASSERT_TRUE(c.ok());
    std::vector<PublishItem> items;
    for (const ClaimedNudge& cn : c->claimed) {
      const size_t colon = cn.member.find(':');
      items.push_back(
          {cn.member, cn.member.substr(colon + 1), cn.member.substr(0, colon), cn.payload});
    }
    ASSERT_TRUE(store_->Publish(b, "tok", items).ok());
  }
  auto out = store_->ReadOutbox(&cursors, 100, absl::ZeroDuration());
  ASSERT_TRUE(out.ok());
  std::vector<OutboxEntry> her;
  for (const OutboxEntry& e : *out) {
    EXPECT_FALSE(e.feed_id.empty());
    if (e.user_key == UserKey("u1")) her.push_back(e);
  }
  ASSERT_EQ(her.size(), 5u);
  for (size_t i = 1; i < her.size(); ++i)
    EXPECT_TRUE(FeedIdLess(her[i - 1].feed_id, her[i].feed_id));
  auto replay = store_->ReplayFeed(UserKey("u1"), her[1].feed_id, 100);
  ASSERT_TRUE(replay.ok()) << replay.status();
  ASSERT_EQ(replay->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*replay)[i].feed_id, her[i + 2].feed_id);
    EXPECT_EQ((*replay)[i].nudge_id, her[i + 2].nudge_id);
    EXPECT_EQ((*replay)[i].user_key, UserKey("u1"));
  }
  EXPECT_EQ(store_->ReplayFeed(UserKey("u1"), her[4].feed_id, 100)->size(), 0u);
  EXPECT_EQ(store_->ReplayFeed(UserKey("u1"), "0-0", 2)->size(), 2u);
}

TEST(FeedIdTest, OrdersAsNumbers) {
  EXPECT_TRUE(FeedIdLess("9-0", "10-0"));
  EXPECT_TRUE(FeedIdLess("10-9", "10-10"));
  EXPECT_FALSE(FeedIdLess("10-10", "10-10"));
  EXPECT_TRUE(FeedIdLess("garbage", "0-1"));
  EXPECT_FALSE(FeedIdLess("0-1", "garbage"));
}

// Upgrade in place: state written by the earlier layout (an unbounded ack set, a snooze hash) is
// still read by this one.
// Her state in the layout before the single state key (one zset per kind) and in the one before
// that (unbounded sets / a hash) is read beside the current one, alone and in the dispatcher's
// batch read, until it expires; nothing is written there any more.
TEST(RedisLayoutUpgradeTest, StateInEveryEarlierLayoutIsRead) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  RedisOptions o;
  o.address = redis.address();
  auto client = std::make_shared<RedisClient>(o);
  const std::string up = "rm:{u" + UserKey("zset-user") + "}:";
  ASSERT_TRUE(client->Command({"ZADD", up + "acks", "1", "old-ack"}).ok());
  ASSERT_TRUE(client->Command({"ZADD", up + "cancels", "1", "old-cancel"}).ok());
  ASSERT_TRUE(client->Command({"ZADD", up + "snoozes", "1", "old-snooze"}).ok());
  ASSERT_TRUE(client->Command({"HSET", up + "plan", "data", ""}).ok());  // an empty plan parses
  RedisReminderStore store(client);
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store.Acknowledge("zset-user", "new-ack", now, now - absl::Hours(48)).ok());
  ASSERT_EQ(*store.Cancel("zset-user", {"new-cancel"}), 1);
  ASSERT_TRUE(store.AddSnooze("zset-user", {"x", now, "new-snooze"}, now - absl::Hours(48)).ok());
  auto expect_all = [](const UserNudgeState& s) {
    EXPECT_EQ(std::set<std::string>(s.acknowledged.begin(), s.acknowledged.end()),
              (std::set<std::string>{"old-ack", "new-ack"}));
    EXPECT_EQ(std::set<std::string>(s.cancelled.begin(), s.cancelled.end()),
              (std::set<std::string>{"old-cancel", "new-cancel"}));
    EXPECT_EQ(std::set<std::string>(s.snoozes.begin(), s.snoozes.end()),
              (std::set<std::string>{"old-snooze", "new-snooze"}));
  };
  auto state = store.GetUserState("zset-user");
  ASSERT_TRUE(state.ok());
  expect_all(*state);
  auto batch = store.GetPlansAndStatesByKey({UserKey("nobody"), UserKey("zset-user")});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_TRUE(absl::IsNotFound(batch[0].status()));
  ASSERT_TRUE(batch[1].ok()) << batch[1].status();
  expect_all(batch[1]->second);
  // Nothing new went to the earlier keys.
  EXPECT_EQ(client->Command({"ZCARD", up + "acks"})->integer, 1);
  EXPECT_EQ(client->Command({"ZCARD", up + "cancels"})->integer, 1);
  EXPECT_EQ(client->Command({"ZCARD", up + "snoozes"})->integer, 1);
  // Deleting the plan deletes every layout's state.
  ASSERT_TRUE(store.DeletePlan("zset-user").ok());
  EXPECT_EQ(client->Command({"EXISTS", up + "state", up + "acks", up + "cancels", up + "snoozes"})
                ->integer,
            0);
}

TEST(RedisLayoutUpgradeTest, EarlierAckSetAndSnoozeHashAreRead) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  RedisOptions o;
  o.address = redis.address();
  auto client = std::make_shared<RedisClient>(o);
  const std::string up = "rm:{u" + UserKey("old-user") + "}:";
  ASSERT_TRUE(client->Command({"SADD", up + "ack", "hyd-20260308-1-0123456789abcdef"}).ok());
  ASSERT_TRUE(client->Command({"HSET", up + "snooze", "snz-1-2-3", "payload"}).ok());
  ASSERT_TRUE(client->Command({"SADD", up + "cancel", "hyd-20260308-2-0123456789abcdef"}).ok());
  RedisReminderStore store(client);
  ASSERT_TRUE(
      store.Acknowledge("old-user", "new-ack", absl::Now(), absl::Now() - absl::Hours(48)).ok());
  auto state = store.GetUserState("old-user");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->acknowledged.size(), 2u);
  ASSERT_EQ(state->snoozes.size(), 1u);
  EXPECT_EQ(state->snoozes[0], "payload");
  ASSERT_EQ(state->cancelled.size(), 1u);
  EXPECT_EQ(state->cancelled[0], "hyd-20260308-2-0123456789abcdef");
}

// The per-plan due index: one entry per user, claimed under a lease with a fence; only the
// current claim's commit publishes and moves her on, a claim taken over after its lease ran out
// is refused, and a write during a claim makes her due again at its commit.
TEST_P(StoreTest, PerPlanDueIndexPublishesOnlyUnderTheCurrentFence) {
  const std::string k = UserKey("fenced-user");
  const int bucket = UserBucket(k, store_->num_buckets());
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store_->WakePlan(k, now - absl::Seconds(1), now - absl::Seconds(10)).ok());
  ASSERT_TRUE(store_->WakePlan(k, now + absl::Hours(1), now).ok());  // only ever earlier
  EXPECT_EQ(*store_->DuePlanCount(), (std::pair<int64_t, int64_t>{1, 0}));
  std::vector<std::string> cursors;
  ASSERT_TRUE(store_->ReadOutbox(&cursors, 100, absl::ZeroDuration()).ok());  // start at the end

  auto a = store_->ClaimDuePlans(bucket, 10, absl::Milliseconds(200));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->plans.size(), 1u);
  EXPECT_EQ(a->plans[0].user_key, k);
  EXPECT_EQ(a->plans[0].watermark_ms, absl::ToUnixMillis(now - absl::Seconds(10)));
  EXPECT_EQ(store_->DuePlanCount()->second, 1);
  EXPECT_TRUE(store_->ClaimDuePlans(bucket, 10, absl::Seconds(1))->plans.empty());  // leased
  absl::SleepFor(absl::Milliseconds(400));                                          // A "dies"
  auto b = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->plans.size(), 1u);
  EXPECT_NE(b->plans[0].fence, a->plans[0].fence);
  EXPECT_EQ(b->plans[0].watermark_ms, a->plans[0].watermark_ms);  // nothing was committed

  auto commit = [&](const DueClaim& c, int64_t next_due_ms) {
    PlanCommit pc;
    pc.user_key = k;
    pc.fence = c.plans[0].fence;
    pc.watermark_ms = c.server_now_ms;
    pc.next_due_ms = next_due_ms;
    pc.items.push_back({"n1", c.server_now_ms - 1000, "payload-n1"});
    return store_->CommitDuePlans(bucket, {pc});
  };
  const int64_t later = absl::ToUnixMillis(now + absl::Hours(1));
  auto ra = commit(*a, later);  // the dead replica's commit arrives late: refused
  ASSERT_TRUE(ra.ok()) << ra.status();
  EXPECT_EQ(ra->published, 0);
  EXPECT_EQ(ra->fenced, 1);
  auto rb = commit(*b, later);
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->published, 1);
  EXPECT_EQ(rb->fenced, 0);
  EXPECT_EQ(commit(*b, later)->fenced, 1);  // that claim is over
  auto out = store_->ReadOutbox(&cursors, 100, absl::Milliseconds(100));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].nudge_id, "n1");
  EXPECT_EQ((*out)[0].user_key, k);
  EXPECT_EQ((*out)[0].payload, "payload-n1");
  EXPECT_EQ(*store_->DuePlanCount(), (std::pair<int64_t, int64_t>{1, 0}));
  auto idle = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(idle->plans.empty());
  EXPECT_EQ(idle->earliest_ms, later);  // what a waiting dispatcher sleeps until

  // Changed while claimed: the commit's next due time is not trusted, she is due at once, with
  // the committed watermark.
  ASSERT_TRUE(store_->WakePlan(k, now - absl::Seconds(1), now).ok());
  auto c = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_EQ(c->plans.size(), 1u);
  EXPECT_EQ(c->plans[0].watermark_ms, b->server_now_ms);
  ASSERT_TRUE(store_->WakePlan(k, now + absl::Hours(2), now).ok());
  PlanCommit pc{k, c->plans[0].fence, c->server_now_ms, later, {}};
  auto rc = store_->CommitDuePlans(bucket, {pc});
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(rc->fenced, 0);
  EXPECT_EQ(rc->requeued, 1);  // the dispatcher that committed comes back at once
  auto d = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_EQ(d->plans.size(), 1u);
  EXPECT_EQ(d->plans[0].watermark_ms, c->server_now_ms);

  // Deleted during a claim: the claim's commit is refused and she is forgotten.
  ASSERT_TRUE(store_->DropDuePlan(k).ok());
  PlanCommit pd{k, d->plans[0].fence, d->server_now_ms, later, {{"n2", 0, "p"}}};
  EXPECT_EQ(store_->CommitDuePlans(bucket, {pd})->fenced, 1);
  EXPECT_EQ(*store_->DuePlanCount(), (std::pair<int64_t, int64_t>{0, 0}));
}

// A commit that names the same claimed user twice publishes her once: the first entry ends the
// claim, the second is refused as if it came from a claim that is over.
TEST_P(StoreTest, PerPlanCommitNamingAUserTwicePublishesHerOnce) {
  const std::string k = UserKey("twice-user");
  const int bucket = UserBucket(k, store_->num_buckets());
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store_->WakePlan(k, now - absl::Seconds(1), now - absl::Seconds(10)).ok());
  std::vector<std::string> cursors;
  ASSERT_TRUE(store_->ReadOutbox(&cursors, 100, absl::ZeroDuration()).ok());  // start at the end
  auto claim = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_TRUE(claim.ok()) << claim.status();
  ASSERT_EQ(claim->plans.size(), 1u);
  const int64_t later = absl::ToUnixMillis(now + absl::Hours(1));
  PlanCommit pc{k, claim->plans[0].fence, claim->server_now_ms, later, {{"once", 0, "p"}}};
  auto r = store_->CommitDuePlans(bucket, {pc, pc});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->published, 1);
  EXPECT_EQ(r->fenced, 1);
  auto out = store_->ReadOutbox(&cursors, 100, absl::Milliseconds(100));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].nudge_id, "once");
}

// A new plan's entry (WakeNewPlan, one command) is due at once and has no watermark until her
// first claim, which gives her one just before the entry's due time (the create), so nothing of
// the new plan is skipped. It is kept: a claim whose commit never comes does not move it to the
// lease's end.
TEST_P(StoreTest, NewPlanEntryGetsItsWatermarkAtItsFirstClaim) {
  const std::string k = UserKey("new-plan-user");
  const int bucket = UserBucket(k, store_->num_buckets());
  const absl::Time before = absl::Now();
  ASSERT_TRUE(store_->WakeNewPlan(k, before + absl::Hours(3)).ok());
  const absl::Time after = absl::Now();
  EXPECT_EQ(*store_->DuePlanCount(), (std::pair<int64_t, int64_t>{1, 0}));
  auto a = store_->ClaimDuePlans(bucket, 10, absl::Milliseconds(200));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->plans.size(), 1u);
  EXPECT_GE(a->plans[0].watermark_ms, absl::ToUnixMillis(before) - 1);
  EXPECT_LE(a->plans[0].watermark_ms, absl::ToUnixMillis(after) - 1);
  absl::SleepFor(absl::Milliseconds(400));  // that replica "dies"
  auto b = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->plans.size(), 1u);
  EXPECT_EQ(b->plans[0].watermark_ms, a->plans[0].watermark_ms);
  // Once she has a watermark, WakeNewPlan moves her entry and nothing else.
  const absl::Time now = absl::Now();
  PlanCommit pc{
      k, b->plans[0].fence, b->server_now_ms, absl::ToUnixMillis(now + absl::Hours(1)), {}};
  ASSERT_EQ(store_->CommitDuePlans(bucket, {pc})->fenced, 0);
  ASSERT_TRUE(store_->WakeNewPlan(k, now + absl::Hours(2)).ok());
  auto c = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_EQ(c->plans.size(), 1u);
  EXPECT_EQ(c->plans[0].watermark_ms, b->server_now_ms);
  // A soon first occurrence leaves a wake-up for her bucket, as WakePlan's do.
  while (store_->WaitWake(absl::Milliseconds(10))->has_value()) {
  }
  const std::string soon = UserKey("new-plan-soon");
  ASSERT_TRUE(store_->WakeNewPlan(soon, now + absl::Seconds(2)).ok());
  auto w = store_->WaitWake(absl::Milliseconds(50));
  ASSERT_TRUE(w.ok() && w->has_value());
  EXPECT_EQ((*w)->bucket, UserBucket(soon, store_->num_buckets()));
  EXPECT_EQ(absl::ToUnixMillis((*w)->due), absl::ToUnixMillis(now + absl::Seconds(2)));
}

// CreateDuePlan is WakeNewPlan and CreatePlan, the entry first; on one Redis one script in one
// round trip, which also works when Redis has lost its scripts (NOSCRIPT).
TEST_P(StoreTest, CreateDuePlanStoresThePlanWithItsEntryDueAtOnce) {
  v1::ReminderPlan plan;
  plan.set_user_id("due-plan-user");
  plan.set_etag("e1");
  const std::string k = UserKey(plan.user_id());
  const int bucket = UserBucket(k, store_->num_buckets());
  while (store_->WaitWake(absl::Milliseconds(10))->has_value()) {
  }
  v1::ReminderPlan first;  // loads the script (NOSCRIPT on a fresh Redis)
  first.set_user_id("due-plan-first");
  ASSERT_TRUE(store_->CreateDuePlan(first, "", "", absl::Now() + absl::Hours(1)).ok());
  const absl::Time before = absl::Now();
  const uint64_t trips = client_ ? client_->round_trips() : 0;
  auto created = store_->CreateDuePlan(plan, "r1", "h1", before + absl::Seconds(2));
  ASSERT_TRUE(created.ok()) << created.status();
  if (client_) EXPECT_EQ(client_->round_trips() - trips, 1u);
  const absl::Time after = absl::Now();
  EXPECT_EQ(created->etag(), "e1");
  EXPECT_EQ(store_->GetPlan(plan.user_id())->etag(), "e1");
  EXPECT_EQ(*store_->DuePlanCount(), (std::pair<int64_t, int64_t>{2, 0}));
  auto w = store_->WaitWake(absl::Milliseconds(50));  // her first occurrence is soon
  ASSERT_TRUE(w.ok() && w->has_value());
  EXPECT_EQ((*w)->bucket, bucket);
  EXPECT_EQ(absl::ToUnixMillis((*w)->due), absl::ToUnixMillis(before + absl::Seconds(2)));
  EXPECT_FALSE(store_->WaitWake(absl::Milliseconds(10))->has_value());  // none for the one in 1 h
  auto claim = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_TRUE(claim.ok()) << claim.status();
  auto her = std::find_if(claim->plans.begin(), claim->plans.end(),
                          [&](const DuePlan& p) { return p.user_key == k; });
  ASSERT_NE(her, claim->plans.end());
  EXPECT_GE(her->watermark_ms, absl::ToUnixMillis(before) - 1);
  EXPECT_LE(her->watermark_ms, absl::ToUnixMillis(after) - 1);

  // Retries answer as CreatePlan does, and make her due again (a claim in flight learns of it).
  EXPECT_EQ(store_->CreateDuePlan(plan, "r1", "h1", after)->etag(), "e1");
  EXPECT_EQ(store_->CreateDuePlan(plan, "r1", "h2", after).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateDuePlan(plan, "r2", "h1", after).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto again = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));  // her lease had 10 s left
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(std::any_of(again->plans.begin(), again->plans.end(),
                          [&](const DuePlan& p) { return p.user_key == k; }));

  if (client_) {
    ASSERT_TRUE(client_->Command({"SCRIPT", "FLUSH"}).ok());
    v1::ReminderPlan other;
    other.set_user_id("due-plan-after-flush");
    other.set_etag("e9");
    ASSERT_TRUE(store_->CreateDuePlan(other, "", "", after + absl::Hours(1)).ok());
    EXPECT_EQ(store_->GetPlan(other.user_id())->etag(), "e9");
    EXPECT_EQ(store_->DuePlanCount()->first, 3);
  }
}

// When her entry cannot be written, neither is her plan (a plan never due would never be
// delivered). Forced here by a bucket index key of the wrong type.
TEST_P(StoreTest, CreateDuePlanStoresNoPlanWhenItsEntryIsRefused) {
  if (!client_) GTEST_SKIP() << "a Redis refusal";
  v1::ReminderPlan plan;
  plan.set_user_id("entry-refused");
  const int bucket = UserBucket(UserKey(plan.user_id()), store_->num_buckets());
  ASSERT_TRUE(client_->Command({"SET", absl::StrCat("rm:{b", bucket, "}:next"), "x"}).ok());
  EXPECT_FALSE(store_->CreateDuePlan(plan, "r1", "h1", absl::Now() + absl::Hours(1)).ok());
  EXPECT_EQ(store_->GetPlan(plan.user_id()).status().code(), absl::StatusCode::kNotFound);
}

// A create during a claim that found no plan there (a deleted plan whose entry was left, say):
// WakeNewPlan leaves no changed mark, but her entry is due again, so that claim's commit does not
// forget her; she is due at once and the next claim finds the new plan.
TEST_P(StoreTest, CreateDuringAClaimThatFoundNoPlanKeepsHerEntry) {
  const std::string k = UserKey("recreated-user");
  const int bucket = UserBucket(k, store_->num_buckets());
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store_->WakePlan(k, now - absl::Seconds(1), now - absl::Hours(1)).ok());
  auto claim = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_TRUE(claim.ok()) << claim.status();
  ASSERT_EQ(claim->plans.size(), 1u);
  ASSERT_TRUE(store_->WakeNewPlan(k, now + absl::Hours(3)).ok());  // the create, meanwhile
  PlanCommit forget{k, claim->plans[0].fence, claim->server_now_ms, -1, {}};
  auto r = store_->CommitDuePlans(bucket, {forget});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->fenced, 0);
  EXPECT_EQ(r->requeued, 1);
  auto again = store_->ClaimDuePlans(bucket, 10, absl::Seconds(10));
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->plans.size(), 1u);
  EXPECT_EQ(again->plans[0].user_key, k);
}

// A user still in the per-occurrence layout whose entry came from WakeNewPlan (CreatePlan
// refused: she has a plan) is handed over at her first claim as WakePlan(now, now) would: her
// pending entries after the claim's now leave the old index, the earlier ones stay for its drain.
TEST_P(StoreTest, NewPlanEntryOfAnEarlierLayoutUserHandsHerOverAtTheClaim) {
  const absl::Time now = absl::Now();
  ScheduleEarlierLayoutUser(now);
  if (HasFatalFailure()) return;
  EXPECT_EQ(store_->Backlog()->first, 3);
  const std::string k = UserKey("u1");
  ASSERT_TRUE(store_->WakeNewPlan(k, now - absl::Seconds(1)).ok());
  EXPECT_EQ(store_->Backlog()->first, 3);  // nothing moves before her claim
  auto claim = store_->ClaimDuePlans(UserBucket(k, store_->num_buckets()), 10, absl::Seconds(10));
  ASSERT_TRUE(claim.ok()) << claim.status();
  ASSERT_EQ(claim->plans.size(), 1u);
  EXPECT_EQ(claim->plans[0].watermark_ms, claim->server_now_ms);
  EXPECT_EQ(store_->Backlog()->first, 1);  // "past"
  EXPECT_FALSE(ClaimAllRefills().count(k));
}

// Migration of the per-occurrence layout: when she enters the per-plan index, her pending
// occurrences after the watermark leave the old index (the dispatcher derives them now); the ones
// due at or before it stay there for the legacy drain. Each comes out of exactly one of the two.
TEST_P(StoreTest, EnteringThePerPlanIndexHandsOverHerLaterOccurrences) {
  const absl::Time now = absl::Now();
  ScheduleEarlierLayoutUser(now);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(store_
                  ->Schedule("u2", {Nudge("other", now + absl::Minutes(10))}, now, false,
                             now - absl::Seconds(1))
                  .ok());
  EXPECT_EQ(store_->Backlog()->first, 4);
  ASSERT_TRUE(store_->WakePlan(UserKey("u1"), now + absl::Minutes(10), now).ok());
  EXPECT_EQ(store_->Backlog()->first, 2);  // "past" (hers, before the watermark) and u2's
  // Her refill entry went with it: the migration loop will not pick her again.
  const std::set<std::string> refills = ClaimAllRefills();
  EXPECT_FALSE(refills.count(UserKey("u1")));
  EXPECT_TRUE(refills.count(UserKey("u2")));  // not migrated yet
  // Waking her again (she is in the index now) removes nothing more.
  ASSERT_TRUE(
      store_
          ->Schedule("u1", {Nudge("again", now + absl::Hours(6))}, now, false, absl::InfinitePast())
          .ok());
  ASSERT_TRUE(store_->WakePlan(UserKey("u1"), now, now).ok());
  EXPECT_EQ(store_->Backlog()->first, 3);
}

// Wake-ups: a write that makes her due sooner, and within wake_within (10 s by default) of now,
// leaves one for her bucket; each is taken once, the earliest first; a write that changes nothing
// or lies further ahead leaves none (a dispatcher idle on the bucket looks that often anyway).
TEST_P(StoreTest, WakeUpsAreLeftOnlyForSoonerDueTimesAndTakenOnce) {
  auto take = [&] {
    auto w = store_->WaitWake(absl::Milliseconds(50));
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *w : std::nullopt;
  };
  EXPECT_FALSE(take().has_value());
  // Two users in different buckets.
  std::string a = UserKey("wake-a"), b;
  for (int i = 0;
       b.empty() || UserBucket(b, store_->num_buckets()) == UserBucket(a, store_->num_buckets());
       ++i) {
    b = UserKey(absl::StrCat("wake-b", i));
  }
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store_->WakePlan(a, now + absl::Hours(1), now).ok());  // far ahead: none
  EXPECT_FALSE(take().has_value());
  ASSERT_TRUE(store_->WakePlan(a, now + absl::Seconds(3), now).ok());
  ASSERT_TRUE(store_->WakePlan(b, now + absl::Seconds(1), now).ok());
  ASSERT_TRUE(store_->WakePlan(a, now + absl::Seconds(5), now).ok());  // not sooner: none
  std::optional<Wake> first = take(), second = take();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(first->bucket, UserBucket(b, store_->num_buckets()));
  EXPECT_EQ(absl::ToUnixMillis(first->due), absl::ToUnixMillis(now + absl::Seconds(1)));
  EXPECT_EQ(second->bucket, UserBucket(a, store_->num_buckets()));
  EXPECT_EQ(absl::ToUnixMillis(second->due), absl::ToUnixMillis(now + absl::Seconds(3)));
  EXPECT_FALSE(take().has_value());  // each once
  // A waiter blocked before the write gets it.
  std::optional<Wake> got;
  std::thread waiter([&] {
    auto w = store_->WaitWake(absl::Seconds(2));
    if (w.ok()) got = *w;
  });
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(store_->WakePlan(a, now, now).ok());
  waiter.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bucket, UserBucket(a, store_->num_buckets()));
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("memory", "redis"));

}  // namespace
}  // namespace legwise::reminder
