// ParseFeedEntry on what the real RedisReminderStore writes to the outbox (schedule, claim,
// publish on a real redis-server, then XRANGE the stream as legwise-push will read it), so a
// change to the publish script's fields breaks this test rather than the sender.
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/common/redis_client.h"
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

}  // namespace
}  // namespace legwise::reminder
