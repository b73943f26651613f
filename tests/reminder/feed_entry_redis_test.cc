// ParseFeedEntry on what the real RedisReminderStore writes to the outbox (schedule, claim,
// publish on a real redis-server, then XRANGE the stream as legwise-push will read it), so a
// change to the publish script's fields breaks this test rather than the sender.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/common/redis_client.h"
#include "services/reminder/devices/device_store.h"
#include "services/reminder/feed/consumer.h"
#include "services/reminder/feed/feed_entry.h"
#include "services/reminder/store/redis_store.h"
#include "tests/support/process.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

TEST(FeedEntryRedisTest, ParsesTheRealOutboxEntry) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  RedisOptions o;
  o.address = redis.address();
  o.command_timeout = absl::Seconds(5);
  auto client = std::make_shared<RedisClient>(o);
  RedisReminderStore store(client);
  ASSERT_TRUE(store.EnsureOutboxGroups().ok());

  const absl::Time due = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) - 1);
  v1::Nudge n;
  n.set_nudge_id("ana-hydration-1");
  n.set_user_id("ana");
  n.set_kind(v1::NUDGE_KIND_HYDRATION);
  n.set_title("Water");
  n.set_body("A glass now.");
  n.set_locale("en");
  ASSERT_TRUE(store
                  .Schedule("ana", {{n.nudge_id(), due, n.SerializeAsString()}},
                            due - absl::Hours(1), false, absl::InfinitePast())
                  .ok());
  int published = 0;
  for (int b = 0; b < store.num_buckets(); ++b) {
    auto c = store.Claim(b, 10, "T:1", absl::Seconds(30), absl::Minutes(30));
    ASSERT_TRUE(c.ok()) << c.status();
    for (const auto& item : c->claimed) {
      PublishItem p{item.member, n.nudge_id(), UserKey("ana"), item.payload};
      auto r = store.Publish(b, "T:1", {p});
      ASSERT_TRUE(r.ok()) << r.status();
      published += *r;
    }
  }
  ASSERT_EQ(published, 1);

  int found = 0;
  for (int b = 0; b < store.num_buckets(); ++b) {
    auto r = client->Command({"XRANGE", RedisReminderStore::OutboxKey(b), "-", "+"});
    ASSERT_TRUE(r.ok());
    for (const RedisReply& entry : r->elements) {
      ASSERT_EQ(entry.elements.size(), 2u);
      std::vector<std::pair<std::string, std::string>> fields;
      const auto& kv = entry.elements[1].elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2) fields.emplace_back(kv[i].str, kv[i + 1].str);
      auto e = ParseFeedEntry(fields);
      ASSERT_TRUE(e.ok()) << e.status();
      EXPECT_EQ(e->nudge_id, "ana-hydration-1");
      EXPECT_EQ(e->user_key, UserKey("ana"));
      EXPECT_EQ(e->due_time, due);
      EXPECT_EQ(e->nudge.title(), "Water");
      ++found;
    }
  }
  EXPECT_EQ(found, 1);
}

// The feed consumer's batch lookups: one round trip each for a whole batch, and per key the same
// answer as the single lookup (her devices, NOT_FOUND for a user with no plan).
TEST(FeedEntryRedisTest, BatchLookupsAreOneRoundTripEachAndMatchSingleOnes) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  RedisOptions o;
  o.address = redis.address();
  o.command_timeout = absl::Seconds(5);
  auto client = std::make_shared<RedisClient>(o);
  RedisReminderStore store(client);
  RedisDeviceStore devices(client);
  std::vector<std::string> keys;
  for (int u = 0; u < 20; ++u) {
    const std::string user = absl::StrCat("user-", u);
    keys.push_back(UserKey(user));
    for (int d = 0; d < u % 3; ++d) {
      v1::Device device;
      device.set_device_id(absl::StrCat("d", u, "-", d));
      device.mutable_fcm()->set_registration_token(absl::StrCat("token-", u, "-", d));
      device.set_locale(u % 2 == 0 ? "es" : "en");
      ASSERT_TRUE(devices.Register(user, device, 10).ok());
    }
    if (u % 4 == 0) {
      v1::ReminderPlan plan;
      plan.set_user_id(user);
      plan.set_time_zone("Europe/Madrid");
      plan.set_etag(absl::StrCat("e", u));
      ASSERT_TRUE(store.CreatePlan(plan, "", "").ok());
    }
  }
  const uint64_t before = client->round_trips();
  auto listed = devices.ListForUserKeys(keys);
  auto plans = store.GetPlansByKey(keys);
  EXPECT_EQ(client->round_trips() - before, 2u);
  ASSERT_EQ(listed.size(), keys.size());
  ASSERT_EQ(plans.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto one = devices.ListForUserKey(keys[i]);
    ASSERT_TRUE(one.ok() && listed[i].ok());
    ASSERT_EQ(listed[i]->size(), static_cast<size_t>(i % 3));
    for (size_t d = 0; d < one->size(); ++d) {
      EXPECT_EQ((*listed[i])[d].SerializeAsString(), (*one)[d].SerializeAsString());
    }
    auto plan = store.GetPlanByKey(keys[i]);
    EXPECT_EQ(plans[i].status().code(), plan.status().code());
    if (i % 4 == 0) {
      ASSERT_TRUE(plans[i].ok()) << plans[i].status();
      EXPECT_EQ(plans[i]->etag(), plan->etag());
      EXPECT_EQ(plans[i]->user_id(), absl::StrCat("user-", i));
    } else {
      EXPECT_TRUE(absl::IsNotFound(plans[i].status()));
    }
  }
  EXPECT_TRUE(devices.ListForUserKeys({}).empty());
  EXPECT_TRUE(store.GetPlansByKey({}).empty());
}

// The idle time (ms) of `id` in the push group's pending list, and its owner.
std::pair<int64_t, std::string> PendingIdle(RedisClient* client, const std::string& stream,
                                            const std::string& id) {
  auto r = client->Command({"XPENDING", stream, "push", "IDLE", "0", id, id, "1"});
  if (!r.ok() || r->elements.empty()) return {-1, ""};
  return {r->elements[0].elements[2].integer, r->elements[0].elements[1].str};
}

// A push in a long retry backoff: refreshing its entry (XCLAIM JUSTID) keeps it from another
// replica's XAUTOCLAIM, and leaves the delivery count alone.
TEST(FeedConsumerRedisTest, RefreshPendingKeepsEntriesFromTakeover) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  RedisOptions o;
  o.address = redis.address();
  auto client = std::make_shared<RedisClient>(o);
  const std::string stream = RedisReminderStore::OutboxKey(0);
  ASSERT_TRUE(client->Command({"XGROUP", "CREATE", stream, "push", "0", "MKSTREAM"}).ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = client->Command({"XADD", stream, "*", "n", absl::StrCat(i)});
    ASSERT_TRUE(id.ok());
    ids.push_back(id->str);
  }
  ASSERT_TRUE(
      client->Command({"XREADGROUP", "GROUP", "push", "a", "COUNT", "10", "STREAMS", stream, ">"})
          .ok());
  absl::SleepFor(absl::Milliseconds(400));
  // Refresh two of the three; the third is left to look abandoned.
  ASSERT_TRUE(RefreshPending(client.get(), stream, "push", "a", {ids[0], ids[1]}).ok());
  EXPECT_LT(PendingIdle(client.get(), stream, ids[0]).first, 300);
  EXPECT_GE(PendingIdle(client.get(), stream, ids[2]).first, 400);
  auto claimed =
      client->Command({"XAUTOCLAIM", stream, "push", "b", "300", "0-0", "COUNT", "10", "JUSTID"});
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->elements[1].elements.size(), 1u);
  EXPECT_EQ(claimed->elements[1].elements[0].str, ids[2]);
  EXPECT_EQ(PendingIdle(client.get(), stream, ids[0]).second, "a");
  EXPECT_EQ(PendingIdle(client.get(), stream, ids[1]).second, "a");
  // JUSTID: the delivery count stays 1 (XPENDING's fourth field).
  auto detail = client->Command({"XPENDING", stream, "push", ids[0], ids[0], "1"});
  ASSERT_TRUE(detail.ok());
  EXPECT_EQ(detail->elements[0].elements[3].integer, 1);
  EXPECT_TRUE(RefreshPending(client.get(), stream, "push", "a", {}).ok());
}

// A replica gone for good (nothing pending, idle long) leaves the group; one with pending entries,
// one recently active, and ourselves stay.
TEST(FeedConsumerRedisTest, RemoveIdleConsumersRemovesOnlyIdleOnesWithNothingPending) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  RedisOptions o;
  o.address = redis.address();
  auto client = std::make_shared<RedisClient>(o);
  const std::string stream = RedisReminderStore::OutboxKey(1);
  EXPECT_EQ(
      RemoveIdleConsumers(client.get(), stream, "push", "me", absl::ZeroDuration()).value_or(-1),
      0);  // no stream yet
  ASSERT_TRUE(client->Command({"XGROUP", "CREATE", stream, "push", "0", "MKSTREAM"}).ok());
  ASSERT_TRUE(client->Command({"XADD", stream, "*", "n", "1"}).ok());
  ASSERT_TRUE(client->Command({"XADD", stream, "*", "n", "2"}).ok());
  auto read = [&](const std::string& consumer) {
    return client->Command(
        {"XREADGROUP", "GROUP", "push", consumer, "COUNT", "1", "STREAMS", stream, ">"});
  };
  auto create = [&](const std::string& consumer) {
    return client->Command({"XGROUP", "CREATECONSUMER", stream, "push", consumer});
  };
  ASSERT_TRUE(read("holder").ok());  // takes one entry: pending 1
  auto gone = read("gone");          // takes the other and acknowledges it: pending 0
  ASSERT_TRUE(gone.ok());
  ASSERT_TRUE(client
                  ->Command({"XACK", stream, "push",
                             gone->elements[0].elements[1].elements[0].elements[0].str})
                  .ok());
  ASSERT_TRUE(create("me").ok());
  absl::SleepFor(absl::Milliseconds(400));
  ASSERT_TRUE(create("fresh").ok());
  auto removed = RemoveIdleConsumers(client.get(), stream, "push", "me", absl::Milliseconds(300));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 1);
  auto consumers = client->Command({"XINFO", "CONSUMERS", stream, "push"});
  ASSERT_TRUE(consumers.ok());
  std::vector<std::string> names;
  for (const RedisReply& c : consumers->elements) names.push_back(c.elements[1].str);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"fresh", "holder", "me"}));
}

}  // namespace
}  // namespace legwise::reminder
