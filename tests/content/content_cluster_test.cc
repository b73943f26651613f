// legwise-content as a real process on a real six-node Redis Cluster (--redis_cluster): answers are
// cached on the master of their key's slot; a live reshard under load (a slot moved step by step,
// so requests meet ASK, then `redis-cli --cluster reshard`) costs no Redis error; a master killed
// with -9 under load fails no request (the catalog answers while the slot fails over) and the
// service uses the cluster again afterwards, without a restart.
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "services/common/redis_client.h"
#include "tests/support/process.h"
#include "tests/support/redis_cluster.h"

namespace legwise::content {
namespace {

namespace lt = ::legwise::testing;

grpc::Status Get(v1::ContentService::Stub* stub, const std::string& topic,
                 const std::string& locale, v1::GetGuidanceResponse* out) {
  v1::GetGuidanceRequest r;
  r.set_topic_id(topic);
  r.set_locale(locale);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return stub->GetGuidance(&ctx, r, out);
}

template <typename Pred>
bool Eventually(Pred pred, absl::Duration timeout = absl::Seconds(20)) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return pred();
}

// The value of a counter (summed over its labels) in the service's /metrics.
double MetricSum(lt::ServiceProcess& svc, absl::string_view name) {
  absl::StatusOr<std::string> m = lt::HttpGet(svc.metrics_port(), "/metrics");
  double sum = 0;
  if (!m.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*m, '\n')) {
    if (!absl::StartsWith(line, name) || line.size() <= name.size() ||
        (line[name.size()] != ' ' && line[name.size()] != '{')) {
      continue;
    }
    double v = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) sum += v;
  }
  return sum;
}

class ContentClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status s = cluster_.Start();
    ASSERT_TRUE(s.ok()) << s;
    // L1 off: every request goes to Redis. A Redis deadline long enough for redirections.
    svc_ = std::make_unique<lt::ServiceProcess>(
        "legwise-content",
        std::vector<std::string>{"--redis_cluster", "--redis_addr=" + cluster_.seeds(),
                                 "--l1_capacity=0", "--redis_timeout=1s",
                                 "--redis_retry_interval=200ms", "--health_interval=100ms",
                                 "--rate_limit_per_second=0"});
    ASSERT_TRUE(svc_->Start().ok());
    stub_ = v1::ContentService::NewStub(svc_->channel());
    RedisOptions o;
    o.cluster = true;
    o.address = cluster_.seeds();
    o.command_timeout = absl::Seconds(2);
    redis_ = std::make_unique<RedisClient>(o);
    v1::ListTopicsRequest list;
    list.set_page_size(100);
    v1::ListTopicsResponse topics;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->ListTopics(&ctx, list, &topics).ok());
    for (const auto& t : topics.topics()) topics_.push_back(t.topic_id());
    ASSERT_GE(topics_.size(), 3u);
  }

  // Every topic in both locales; counts the failures.
  int Burst() {
    int failures = 0;
    for (const std::string& t : topics_) {
      for (const char* locale : {"en", "es"}) {
        v1::GetGuidanceResponse r;
        if (!Get(stub_.get(), t, locale, &r).ok() || r.guidance().title().empty()) ++failures;
      }
    }
    return failures;
  }

  // The content keys on each live master.
  std::vector<std::pair<int, std::string>> KeysByNode() {
    std::vector<std::pair<int, std::string>> out;
    for (int i = 0; i < cluster_.size(); ++i) {
      if (cluster_.killed(i)) continue;
      auto role = cluster_.Cli(i, {"ROLE"});
      if (!role.ok() || !absl::StartsWith(*role, "master")) continue;
      auto keys = cluster_.Cli(i, {"KEYS", "legwise:content:*"});
      if (!keys.ok()) continue;
      for (absl::string_view k : absl::StrSplit(*keys, '\n', absl::SkipWhitespace())) {
        out.emplace_back(i, std::string(k));
      }
    }
    return out;
  }

  // Whether `key` caches GetGuidance(topic, "en") with no personalization ("...g|<topic>|en|...").
  static bool IsKeyOf(absl::string_view key, const std::string& topic) {
    return absl::StrContains(key, absl::StrCat("g|", topic, "|en|"));
  }

  // Whether what Redis holds under the key of (topic, "en") is what the service serves: overwrite
  // it with a marked copy and ask.
  bool ServedFromRedis(const std::string& topic) {
    v1::GetGuidanceResponse fresh;
    if (!Get(stub_.get(), topic, "en", &fresh).ok()) return false;
    for (const auto& [node, key] : KeysByNode()) {
      if (!IsKeyOf(key, topic)) continue;
      v1::GetGuidanceResponse marked = fresh;
      marked.mutable_guidance()->set_title("marked in redis");
      if (!redis_->Command({"SET", key, marked.SerializeAsString(), "KEEPTTL"}).ok()) return false;
      v1::GetGuidanceResponse got;
      bool hit =
          Get(stub_.get(), topic, "en", &got).ok() && got.guidance().title() == "marked in redis";
      (void)redis_->Command({"DEL", key});
      return hit;
    }
    return false;
  }

  lt::RedisCluster cluster_;
  std::unique_ptr<lt::ServiceProcess> svc_;
  std::unique_ptr<v1::ContentService::Stub> stub_;
  std::unique_ptr<RedisClient> redis_;
  std::vector<std::string> topics_;
};

TEST_F(ContentClusterTest, CachesOnEveryMasterAndServesHits) {
  EXPECT_EQ(Burst(), 0);
  EXPECT_TRUE(Eventually(
      [&] { return lt::CheckHealth(svc_->channel().get(), "dependency/redis").value_or(0) == 1; }));
  std::vector<std::pair<int, std::string>> keys = KeysByNode();
  EXPECT_GE(keys.size(), topics_.size());
  std::set<int> nodes;
  for (const auto& [node, key] : keys) {
    nodes.insert(node);
    // Each key is on the master of its slot.
    EXPECT_EQ(*cluster_.MasterOf(redis_cluster::KeySlot(key)), node) << key;
  }
  EXPECT_GE(nodes.size(), 2u) << "keys spread over the masters";
  EXPECT_TRUE(ServedFromRedis(topics_[0]));
  EXPECT_EQ(MetricSum(*svc_, "legwise_redis_errors_total"), 0);
}

TEST_F(ContentClusterTest, LiveReshardUnderLoadCostsNoRedisError) {
  ASSERT_EQ(Burst(), 0);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, calls{0};
  std::thread load([&] {
    while (!stop.load()) {
      failures += Burst();
      calls += static_cast<int>(topics_.size() * 2);
    }
  });
  // One slot that holds a cached answer, moved key by key (requests meet MIGRATING/IMPORTING).
  std::vector<std::pair<int, std::string>> keys = KeysByNode();
  ASSERT_FALSE(keys.empty());
  const int slot = redis_cluster::KeySlot(keys[0].second);
  auto masters = cluster_.Masters();
  ASSERT_TRUE(masters.ok());
  const int to = (*masters)[0] == keys[0].first ? (*masters)[1] : (*masters)[0];
  absl::Status moved = cluster_.MigrateSlot(slot, to, /*batch=*/1, absl::Milliseconds(50));
  // Then a bulk reshard by redis-cli: a third of one master's slots to another.
  absl::Status resharded = cluster_.Reshard((*masters)[2], (*masters)[0], 1000);
  absl::SleepFor(absl::Milliseconds(300));
  stop = true;
  load.join();
  ASSERT_TRUE(moved.ok()) << moved;
  ASSERT_TRUE(resharded.ok()) << resharded;
  EXPECT_EQ(*cluster_.MasterOf(slot), to);
  EXPECT_GT(calls.load(), 0);
  EXPECT_EQ(failures.load(), 0) << "of " << calls.load();
  // No request fell back to the catalog for a Redis failure: every one was routed.
  EXPECT_EQ(MetricSum(*svc_, "legwise_redis_errors_total"), 0);
  EXPECT_GT(MetricSum(*svc_, "legwise_redis_cluster_redirects_total"), 0);
  EXPECT_TRUE(ServedFromRedis(topics_[0]));
}

TEST_F(ContentClusterTest, MasterKilledUnderLoadNoRequestFailsAndRedisComesBack) {
  ASSERT_EQ(Burst(), 0);
  std::vector<std::pair<int, std::string>> keys = KeysByNode();
  ASSERT_FALSE(keys.empty());
  // The master holding topic 0's English answer dies.
  int victim = -1;
  for (const auto& [node, key] : keys) {
    if (IsKeyOf(key, topics_[0])) victim = node;
  }
  ASSERT_GE(victim, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, calls{0};
  std::thread load([&] {
    while (!stop.load()) {
      failures += Burst();
      calls += static_cast<int>(topics_.size() * 2);
    }
  });
  absl::SleepFor(absl::Milliseconds(300));
  cluster_.KillNode(victim);
  absl::Status ok = cluster_.WaitUntilOk(absl::Seconds(30));
  ASSERT_TRUE(ok.ok()) << ok;
  // The same process caches on the promoted replica.
  EXPECT_TRUE(Eventually([&] { return ServedFromRedis(topics_[0]); }));
  EXPECT_TRUE(Eventually(
      [&] { return lt::CheckHealth(svc_->channel().get(), "dependency/redis").value_or(0) == 1; }));
  stop = true;
  load.join();
  EXPECT_EQ(failures.load(), 0) << "of " << calls.load() << ": the catalog answers meanwhile";
  EXPECT_GT(MetricSum(*svc_, "legwise_redis_errors_total"), 0) << "the kill was noticed";
}

}  // namespace
}  // namespace legwise::content
