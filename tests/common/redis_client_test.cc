// The Redis client against a real redis-server that is killed and restarted mid-test.
#include "services/common/redis_client.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace legwise {
namespace {

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.Start().ok()); }
  RedisOptions Options() {
    RedisOptions o;
    o.address = redis_.address();
    o.connect_timeout = absl::Milliseconds(200);
    o.command_timeout = absl::Milliseconds(500);
    o.pool_size = 4;
    return o;
  }
  testing::RedisServer redis_;
};

TEST_F(RedisClientTest, CommandsRepliesAndErrors) {
  RedisClient client(Options());
  ASSERT_TRUE(client.Ping().ok());
  auto set = client.Command({"SET", "k", std::string("v\0w", 3)});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->type, RedisReply::Type::kStatus);
  auto get = client.Command({"GET", "k"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->str, std::string("v\0w", 3)) << "binary-safe";
  EXPECT_TRUE(client.Command({"GET", "missing"})->is_nil());
  EXPECT_EQ(client.Command({"INCRBY", "n", "5"})->integer, 5);
  auto bad = client.Command({"INCR", "k"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(bad.status().message().find("ERR"), absl::string_view::npos);
  EXPECT_TRUE(client.Ping().ok()) << "an error reply leaves the connection usable";
}

TEST_F(RedisClientTest, PipelineIsOneRoundTrip) {
  RedisClient client(Options());
  uint64_t before = client.round_trips();
  auto replies = client.Pipeline(
      {{"RPUSH", "l", "a", "b"}, {"LRANGE", "l", "0", "-1"}, {"INCR", "l"}, {"LLEN", "l"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  EXPECT_EQ(client.round_trips() - before, 1u);
  ASSERT_EQ(replies->size(), 4u);
  EXPECT_EQ((*replies)[0].integer, 2);
  ASSERT_EQ((*replies)[1].elements.size(), 2u);
  EXPECT_EQ((*replies)[1].elements[1].str, "b");
  EXPECT_TRUE((*replies)[2].is_error()) << "error replies come back in place";
  EXPECT_EQ((*replies)[3].integer, 2);
}

TEST_F(RedisClientTest, EvalLoadsScriptsOnNoscript) {
  RedisClient client(Options());
  ASSERT_TRUE(client.Command({"SCRIPT", "FLUSH"}).ok());
  const std::string script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  auto r1 = client.Eval(script, {"counter"}, {"3"});
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->integer, 3);
  uint64_t before = client.round_trips();
  auto r2 = client.Eval(script, {"counter"}, {"4"});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->integer, 7);
  EXPECT_EQ(client.round_trips() - before, 1u) << "a loaded script runs by its SHA1";
}

TEST_F(RedisClientTest, FailsFastWhileDownAndRecoversWithoutRestart) {
  RedisClient client(Options());
  ASSERT_TRUE(client.Command({"SET", "durable", "yes"}).ok());
  redis_.Kill();

  // While Redis is down: clear UNAVAILABLE, quickly.
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    absl::Time start = absl::Now();
    auto r = client.Command({"GET", "durable"});
    absl::Duration took = absl::Now() - start;
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    EXPECT_LT(took, absl::Seconds(1)) << "must fail fast, not hang";
    ++failures;
  }
  EXPECT_EQ(failures, 20);
  EXPECT_FALSE(client.last_call_ok());

  // Back again: the same client succeeds without being recreated.
  ASSERT_TRUE(redis_.Start().ok());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  absl::Status last;
  while (absl::Now() < deadline) {
    last = client.Ping();
    if (last.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(last.ok()) << last;
  EXPECT_TRUE(client.last_call_ok());
  // SIGKILL lost at most the last second of writes; with appendfsync everysec the key written well
  // before the crash is back.
  auto r = client.Command({"GET", "durable"});
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST_F(RedisClientTest, ConcurrentCallersShareThePool) {
  RedisClient client(Options());
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&client, &errors, t] {
      for (int i = 0; i < 200; ++i) {
        auto r = client.Command({"INCR", absl::StrCat("c", t % 2)});
        if (!r.ok()) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(client.Command({"GET", "c0"})->str, "800");
  EXPECT_EQ(client.Command({"GET", "c1"})->str, "800");
}

// A server that cannot serve for now answers every command with an error reply; those are
// UNAVAILABLE (retry), not INTERNAL, from Command, Eval and Pipeline alike. BUSY: a script runs
// past busy-reply-threshold.
TEST_F(RedisClientTest, BusyServerIsUnavailable) {
  RedisClient client(Options());
  ASSERT_TRUE(client.Command({"CONFIG", "SET", "busy-reply-threshold", "50"}).ok());
  RedisOptions slow = Options();
  slow.command_timeout = absl::Seconds(20);
  RedisClient script_runner(slow);
  std::thread busy([&] {
    script_runner.Command({"EVAL", "while true do end", "0"}).IgnoreError();
  });
  absl::Status get;
  for (int i = 0; i < 200; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    get = client.Command({"GET", "k"}).status();
    if (!get.ok()) break;
  }
  EXPECT_EQ(get.code(), absl::StatusCode::kUnavailable) << get;
  EXPECT_NE(get.message().find("BUSY"), absl::string_view::npos) << get;
  EXPECT_EQ(client.Pipeline({{"GET", "k"}, {"GET", "j"}}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(client.Eval("return 1", {}, {}).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(client.Command({"SCRIPT", "KILL"}).ok());
  busy.join();
  EXPECT_TRUE(client.Ping().ok()) << "usable again once the script is gone";
  // BUSYGROUP is an answer, not a busy server.
  ASSERT_TRUE(client.Command({"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"}).ok());
  auto again = client.Pipeline({{"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)[0].is_error());
}

// MASTERDOWN: a replica whose master is gone and that serves no stale data.
TEST(RedisClientUnavailableTest, ReplicaWithoutMasterIsUnavailable) {
  testing::RedisServer replica({"--replicaof", "127.0.0.1", absl::StrCat(testing::FreePort()),
                                "--replica-serve-stale-data", "no"});
  ASSERT_TRUE(replica.Launch().ok());
  RedisOptions o;
  o.address = replica.address();
  RedisClient client(o);
  absl::Status get;
  for (int i = 0; i < 200; ++i) {
    get = client.Command({"GET", "k"}).status();
    if (get.message().find("MASTERDOWN") != absl::string_view::npos) break;
    absl::SleepFor(absl::Milliseconds(25));
  }
  EXPECT_EQ(get.code(), absl::StatusCode::kUnavailable) << get;
  EXPECT_NE(get.message().find("MASTERDOWN"), absl::string_view::npos) << get;
}

// LOADING: a restarted server still reading a big AOF (key-load-delay slows the load down).
TEST(RedisClientUnavailableTest, LoadingServerIsUnavailable) {
  testing::RedisServer redis({"--enable-debug-command", "local"});
  ASSERT_TRUE(redis.Start().ok());
  RedisOptions o;
  o.address = redis.address();
  {
    RedisClient client(o);
    ASSERT_TRUE(client.Command({"DEBUG", "POPULATE", "200000"}).ok());
    ASSERT_TRUE(client.Command({"BGREWRITEAOF"}).ok());
    for (int i = 0; i < 500; ++i) {
      auto info = client.Command({"INFO", "persistence"});
      if (info.ok() && info->str.find("aof_rewrite_in_progress:0") != std::string::npos &&
          info->str.find("aof_rewrite_scheduled:0") != std::string::npos) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  redis.Stop();
  redis.set_extra_args({"--enable-debug-command", "local", "--key-load-delay", "50"});
  ASSERT_TRUE(redis.Launch().ok());
  RedisClient client(o);
  absl::Status get;
  for (int i = 0; i < 400; ++i) {
    get = client.Command({"GET", "key:1"}).status();
    if (get.message().find("LOADING") != absl::string_view::npos) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(get.code(), absl::StatusCode::kUnavailable) << get;
  EXPECT_NE(get.message().find("LOADING"), absl::string_view::npos) << get;
  // A pipeline (the reminder store's reads) is UNAVAILABLE too, not an error reply in place.
  EXPECT_EQ(client.Pipeline({{"GET", "key:1"}, {"GET", "key:2"}}).status().code(),
            absl::StatusCode::kUnavailable);
  redis.Kill();
}

TEST(RedisClientNoServerTest, BadAddressIsAClearError) {
  RedisOptions o;
  o.address = "not-an-address";
  RedisClient client(o);
  absl::Status s = client.Ping();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not-an-address"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace legwise
