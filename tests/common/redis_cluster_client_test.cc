// The Redis client in cluster mode against a real six-node Redis Cluster on loopback: slots as the
// server computes them, routing and pipelines across nodes, cross-slot refusals, a slot migrated
// under load (MOVED and ASK) with no write lost or applied twice, and a master killed with -9.
#include <atomic>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/common/metrics.h"
#include "services/common/redis_client.h"
#include "tests/support/redis_cluster.h"

namespace legwise {
namespace {

class RedisClusterClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new testing::RedisCluster();
    absl::Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  RedisOptions Options() {
    RedisOptions o;
    o.cluster = true;
    o.address = cluster_->seeds();
    o.command_timeout = absl::Seconds(2);
    o.pool_size = 4;
    return o;
  }
  static double Redirects(const char* kind) {
    return Metrics::Default().Value("legwise_redis_cluster_redirects_total", {{"kind", kind}});
  }
  static testing::RedisCluster* cluster_;
};
testing::RedisCluster* RedisClusterClientTest::cluster_ = nullptr;

TEST_F(RedisClusterClientTest, SlotsAgreeWithTheServer) {
  RedisClient client(Options());
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string key = absl::StrCat("k", rng(), i % 3 == 0 ? "{tag" : "", i % 5 == 0 ? "}x" : "");
    auto r = client.Command({"CLUSTER", "KEYSLOT", key});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->integer, redis_cluster::KeySlot(key)) << key;
  }
  for (const char* key : {"foo", "bar", "hello", "somekey", "foo{hash_tag}"}) {
    EXPECT_EQ(client.Command({"CLUSTER", "KEYSLOT", key})->integer, redis_cluster::KeySlot(key));
  }
}

TEST_F(RedisClusterClientTest, RoutesCommandsPipelinesAndScripts) {
  RedisClient client(Options());
  ASSERT_TRUE(client.Ping().ok());
  for (int i = 0; i < 300; ++i) {
    auto set = client.Command({"SET", absl::StrCat("route:", i), absl::StrCat(i)});
    ASSERT_TRUE(set.ok()) << set.status();
  }
  // Each key went to its own master: every master holds some, and GET finds them all.
  std::vector<std::vector<std::string>> gets;
  for (int i = 0; i < 300; ++i) gets.push_back({"GET", absl::StrCat("route:", i)});
  gets.push_back({"PING"});
  auto replies = client.Pipeline(gets);
  ASSERT_TRUE(replies.ok()) << replies.status();
  for (int i = 0; i < 300; ++i) ASSERT_EQ((*replies)[i].str, absl::StrCat(i)) << "in order";
  EXPECT_EQ(replies->back().str, "PONG");
  auto masters = cluster_->Masters();
  ASSERT_TRUE(masters.ok());
  ASSERT_EQ(masters->size(), 3u);
  for (int m : *masters) {
    auto n = cluster_->Cli(m, {"DBSIZE"});
    ASSERT_TRUE(n.ok());
    EXPECT_GT(std::stoi(*n), 0) << "master " << m;
  }
  // Multi-key on one slot is fine; across slots it is refused before anything is sent.
  EXPECT_TRUE(client.Command({"MSET", "{u1}:a", "1", "{u1}:b", "2"}).ok());
  auto mget = client.Command({"MGET", "{u1}:a", "{u1}:b"});
  ASSERT_TRUE(mget.ok());
  EXPECT_EQ(mget->elements[1].str, "2");
  auto cross = client.Command({"MGET", "route:1", "route:2"});
  EXPECT_EQ(cross.status().code(), absl::StatusCode::kInvalidArgument) << cross.status();
  EXPECT_EQ(client.Pipeline({{"GET", "x"}, {"DEL", "route:1", "route:2"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.Eval("return 1", {"route:1", "route:2"}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A script loads itself on each node it runs on (NOSCRIPT per node).
  const std::string script =
      "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[2])";
  for (int i = 0; i < 30; ++i) {
    std::string tag = absl::StrCat("{s", i, "}");
    auto r = client.Eval(script, {tag + "a", tag + "a"}, {absl::StrCat(i)});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->str, absl::StrCat(i));
  }
  // Error replies stay errors.
  ASSERT_TRUE(client.Command({"SET", "notanumber", "x"}).ok());
  EXPECT_EQ(client.Command({"INCR", "notanumber"}).status().code(), absl::StatusCode::kInternal);
}

TEST_F(RedisClusterClientTest, SlotMigratedUnderLoadLosesNoWrite) {
  RedisClient client(Options());
  const std::string tag = "{mig}";
  const int slot = redis_cluster::KeySlot("mig");
  auto from = cluster_->MasterOf(slot);
  ASSERT_TRUE(from.ok()) << from.status();
  auto masters = cluster_->Masters();
  ASSERT_TRUE(masters.ok());
  int to = masters->front() == *from ? (*masters)[1] : masters->front();
  // Enough keys that the migration takes a while, so traffic meets the ASK state.
  std::vector<std::vector<std::string>> seed;
  for (int i = 0; i < 400; ++i) seed.push_back({"SET", absl::StrCat(tag, "pad:", i), "x"});
  ASSERT_TRUE(client.Pipeline(seed).ok());
  const double moved_before = Redirects("moved"), ask_before = Redirects("ask");

  std::atomic<bool> stop{false};
  std::atomic<int> acked{0}, failed{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!stop.load()) {
        // Counters one by one (some already moved, some not) and a two-key script on the slot.
        std::string key = absl::StrCat(tag, "ctr:", rng() % 50);
        auto r = client.Eval("redis.call('INCR', KEYS[1]) return redis.call('INCR', KEYS[2])",
                             {key, tag + "total"}, {});
        if (r.ok()) {
          acked.fetch_add(1);
        } else {
          failed.fetch_add(1);
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(200));
  absl::Status moved = cluster_->MigrateSlot(slot, to, /*batch=*/10, absl::Milliseconds(15));
  absl::SleepFor(absl::Milliseconds(200));
  stop = true;
  for (auto& w : writers) w.join();
  ASSERT_TRUE(moved.ok()) << moved;
  ASSERT_EQ(*cluster_->MasterOf(slot), to);
  EXPECT_EQ(failed.load(), 0) << "every call is redirected within its deadline";
  // Exactly the acknowledged increments are there: none lost, none applied twice.
  auto total = client.Command({"GET", tag + "total"});
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(std::stoll(total->str), acked.load());
  int64_t sum = 0;
  std::vector<std::vector<std::string>> reads;
  for (int i = 0; i < 50; ++i) reads.push_back({"GET", absl::StrCat(tag, "ctr:", i)});
  auto counters = client.Pipeline(reads);
  ASSERT_TRUE(counters.ok());
  for (const RedisReply& c : *counters) sum += c.is_nil() ? 0 : std::stoll(c.str);
  EXPECT_EQ(sum, acked.load());
  EXPECT_GT(Redirects("moved"), moved_before);
  EXPECT_GT(Redirects("ask") + Redirects("tryagain"), ask_before) << "the ASK path was taken";
}

TEST_F(RedisClusterClientTest, ReshardByRedisCliUnderLoad) {
  RedisClient client(Options());
  auto masters = cluster_->Masters();
  ASSERT_TRUE(masters.ok());
  std::vector<std::vector<std::string>> seed;
  for (int i = 0; i < 2000; ++i) seed.push_back({"SET", absl::StrCat("rs:", i), absl::StrCat(i)});
  ASSERT_TRUE(client.Pipeline(seed).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, calls{0};
  std::thread reader([&] {
    std::mt19937 rng(3);
    while (!stop.load()) {
      int i = rng() % 2000;
      auto r = client.Command({"GET", absl::StrCat("rs:", i)});
      calls.fetch_add(1);
      if (!r.ok() || r->str != absl::StrCat(i)) bad.fetch_add(1);
    }
  });
  absl::Status s = cluster_->Reshard((*masters)[0], (*masters)[1], 200);
  absl::SleepFor(absl::Milliseconds(100));
  stop = true;
  reader.join();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_GT(calls.load(), 0);
  EXPECT_EQ(bad.load(), 0);
}

// Last: it changes the cluster's shape for good.
TEST_F(RedisClusterClientTest, ZzMasterKilledFailsOverWithoutRestartingTheClient) {
  RedisClient client(Options());
  const int slot = redis_cluster::KeySlot("fo");
  auto victim = cluster_->MasterOf(slot);
  ASSERT_TRUE(victim.ok());
  ASSERT_TRUE(client.Command({"SET", "{fo}:k", "before"}).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> ok_after{0};
  std::atomic<int64_t> last_failure_ms{0};
  std::thread load([&] {
    int i = 0;
    while (!stop.load()) {
      auto r = client.Command({"SET", "{fo}:k", absl::StrCat(++i)});
      if (r.ok()) {
        ok_after.fetch_add(1);
      } else {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
        last_failure_ms = absl::ToUnixMillis(absl::Now());
        ok_after = 0;
      }
    }
  });
  absl::SleepFor(absl::Milliseconds(200));
  cluster_->KillNode(*victim);
  absl::Status ok = cluster_->WaitUntilOk(absl::Seconds(30));
  // Calls succeed again on the promoted replica, through the same client.
  absl::Time until = absl::Now() + absl::Seconds(15);
  while (ok_after.load() < 50 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  stop = true;
  load.join();
  ASSERT_TRUE(ok.ok()) << ok;
  EXPECT_GE(ok_after.load(), 50);
  EXPECT_GT(last_failure_ms.load(), 0) << "the kill was noticed";
  auto owner = cluster_->MasterOf(slot);
  ASSERT_TRUE(owner.ok());
  EXPECT_NE(*owner, *victim);
  EXPECT_TRUE(client.Command({"GET", "{fo}:k"}).ok());
}

}  // namespace
}  // namespace legwise
