// The pure Redis Cluster pieces of the client: CRC16 and key slots (against the specification's
// test vector and slots Redis computes), hash tags, where a command's keys are, MOVED/ASK replies
// and CLUSTER SLOTS replies.
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/common/redis_client.h"

namespace legwise {
namespace {

using redis_cluster::CommandKeys;
using redis_cluster::CommandSlot;
using redis_cluster::Crc16;
using redis_cluster::KeySlot;
using redis_cluster::ParseClusterSlots;
using redis_cluster::ParseRedirect;

TEST(Crc16Test, SpecificationTestVector) {
  // The cluster specification, appendix A: CRC16 of "123456789" is 0x31C3 (XMODEM).
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
  EXPECT_EQ(Crc16(""), 0);
}

// An independent bitwise-by-table implementation to compare against on random inputs.
uint16_t TableCrc16(const std::string& s) {
  static uint16_t table[256];
  static bool init = [] {
    for (int i = 0; i < 256; ++i) {
      uint16_t c = static_cast<uint16_t>(i << 8);
      for (int k = 0; k < 8; ++k) c = (c & 0x8000) ? (c << 1) ^ 0x1021 : (c << 1);
      table[i] = c;
    }
    return true;
  }();
  (void)init;
  uint16_t crc = 0;
  for (unsigned char b : s)
    crc = static_cast<uint16_t>((crc << 8) ^ table[((crc >> 8) ^ b) & 0xff]);
  return crc;
}

TEST(Crc16Test, AgreesWithATableImplementation) {
  std::mt19937 rng(15);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    ASSERT_EQ(Crc16(s), TableCrc16(s)) << i;
  }
}

TEST(KeySlotTest, KnownSlots) {
  // Values from `CLUSTER KEYSLOT` on a real Redis 7 (the cluster test checks random keys against
  // the server too).
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("bar"), 5061);
  EXPECT_EQ(KeySlot("hello"), 866);
  EXPECT_EQ(KeySlot("somekey"), 11058);
  EXPECT_EQ(KeySlot("foo{hash_tag}"), 2515);
}

TEST(KeySlotTest, HashTags) {
  // The specification's examples.
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("user1000"));
  EXPECT_EQ(KeySlot("{user1000}.followers"), KeySlot("user1000"));
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), KeySlot("{bar"));           // first '{' to the next '}'
  EXPECT_EQ(KeySlot("foo{bar}{zap}"), KeySlot("bar"));            // only the first tag counts
  EXPECT_EQ(KeySlot("foo{}{bar}"), Crc16("foo{}{bar}") % 16384);  // empty tag: whole key
  EXPECT_EQ(KeySlot("foo{bar"), Crc16("foo{bar") % 16384);        // no closing brace
  EXPECT_EQ(KeySlot("rm:{u00ab}:plan"), KeySlot("rm:{u00ab}:snooze"));
}

TEST(KeySlotTest, EverySlotIsInRange) {
  std::mt19937 rng(16);
  for (int i = 0; i < 5000; ++i) {
    int slot = KeySlot(absl::StrCat("key:", rng()));
    ASSERT_GE(slot, 0);
    ASSERT_LT(slot, 16384);
  }
}

std::vector<std::string> Keys(const std::vector<std::string>& args) {
  auto keys = CommandKeys(args);
  EXPECT_TRUE(keys.ok()) << keys.status();
  if (!keys.ok()) return {};
  return std::vector<std::string>(keys->begin(), keys->end());
}

TEST(CommandKeysTest, WhereTheKeysAre) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Keys({"GET", "a"}), V{"a"});
  EXPECT_EQ(Keys({"set", "a", "1", "PX", "10"}), V{"a"});
  EXPECT_EQ(Keys({"PING"}), V{});
  EXPECT_EQ(Keys({"CLUSTER", "SLOTS"}), V{});
  EXPECT_EQ(Keys({"DEL", "a", "b", "c"}), (V{"a", "b", "c"}));
  EXPECT_EQ(Keys({"MSET", "a", "1", "b", "2"}), (V{"a", "b"}));
  EXPECT_EQ(Keys({"EVALSHA", "sha", "2", "k1", "k2", "arg"}), (V{"k1", "k2"}));
  EXPECT_EQ(Keys({"EVAL", "return 1", "0", "arg"}), V{});
  EXPECT_EQ(Keys({"XREAD", "COUNT", "5", "BLOCK", "10", "STREAMS", "s1", "s2", "0-0", "$"}),
            (V{"s1", "s2"}));
  EXPECT_EQ(Keys({"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", ">"}), V{"s1"});
  EXPECT_EQ(Keys({"XGROUP", "CREATE", "s1", "push", "0", "MKSTREAM"}), V{"s1"});
  EXPECT_EQ(Keys({"BZPOPMIN", "z1", "z2", "5"}), (V{"z1", "z2"}));
}

TEST(CommandKeysTest, MalformedCommandsAreInvalid) {
  EXPECT_EQ(CommandKeys({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CommandKeys({"EVAL", "s", "3", "k"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CommandKeys({"EVAL", "s", "-1"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CommandKeys({"XREAD", "STREAMS", "s1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CommandKeys({"XREAD", "COUNT", "1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CommandSlotTest, OneSlotOrInvalid) {
  EXPECT_EQ(*CommandSlot({"PING"}), -1);
  EXPECT_EQ(*CommandSlot({"GET", "foo"}), 12182);
  EXPECT_EQ(*CommandSlot({"DEL", "{u1}:a", "{u1}:b"}), KeySlot("u1"));
  absl::StatusOr<int> cross = CommandSlot({"MGET", "foo", "bar"});
  EXPECT_EQ(cross.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cross.status().message().find("MGET"), absl::string_view::npos) << cross.status();
  EXPECT_EQ(CommandSlot({"XREAD", "STREAMS", "{b0}:s", "{b1}:s", "0", "0"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseRedirectTest, MovedAndAsk) {
  auto moved = ParseRedirect("MOVED 3999 127.0.0.1:6381", "10.0.0.1:7000");
  ASSERT_TRUE(moved.has_value());
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->address, "127.0.0.1:6381");
  auto ask = ParseRedirect("ASK 12182 10.0.0.2:7002", "10.0.0.1:7000");
  ASSERT_TRUE(ask.has_value());
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->address, "10.0.0.2:7002");
  // An empty host means the host of the node that answered.
  EXPECT_EQ(ParseRedirect("MOVED 1 :7005", "10.0.0.1:7000")->address, "10.0.0.1:7005");
  EXPECT_EQ(ParseRedirect("MOVED 1 [::1]:7005", "x:1")->address, "[::1]:7005");
  for (const char* bad : {"MOVED", "MOVED 1", "MOVED x 1.2.3.4:5", "MOVED 16384 a:1", "MOVED 1 a",
                          "MOVED 1 a:0", "ASK 1 a:99999", "ERR wrong", "TRYAGAIN x y"}) {
    EXPECT_FALSE(ParseRedirect(bad, "h:1").has_value()) << bad;
  }
}

RedisReply Int(int64_t v) {
  RedisReply r;
  r.type = RedisReply::Type::kInteger;
  r.integer = v;
  return r;
}
RedisReply Str(std::string s) {
  RedisReply r;
  r.type = RedisReply::Type::kString;
  r.str = std::move(s);
  return r;
}
RedisReply Arr(std::vector<RedisReply> e) {
  RedisReply r;
  r.type = RedisReply::Type::kArray;
  r.elements = std::move(e);
  return r;
}

TEST(ParseClusterSlotsTest, MastersAndOwners) {
  // Shaped as Redis 7 answers: start, end, master [ip, port, id, {hostname}], replicas...
  RedisReply reply = Arr({
      Arr({Int(0), Int(5460), Arr({Str("127.0.0.1"), Int(7000), Str("id0"), Arr({})}),
           Arr({Str("127.0.0.1"), Int(7003), Str("id3"), Arr({})})}),
      Arr({Int(5461), Int(10922), Arr({Str(""), Int(7001), Str("id1")})}),
      Arr({Int(10923), Int(16000), Arr({Str("127.0.0.1"), Int(7002), Str("id2")})}),
      Arr({Int(16001), Int(16383), Arr({Str("127.0.0.1"), Int(7000), Str("id0")})}),
  });
  auto map = ParseClusterSlots(reply, "127.0.0.9:7001");
  ASSERT_TRUE(map.ok()) << map.status();
  ASSERT_EQ(map->masters.size(), 3u);
  EXPECT_EQ(map->masters[map->owner[0]], "127.0.0.1:7000");
  EXPECT_EQ(map->masters[map->owner[5460]], "127.0.0.1:7000");
  EXPECT_EQ(map->masters[map->owner[5461]], "127.0.0.9:7001") << "empty ip: the node asked";
  EXPECT_EQ(map->masters[map->owner[16000]], "127.0.0.1:7002");
  EXPECT_EQ(map->masters[map->owner[16383]], "127.0.0.1:7000");
}

TEST(ParseClusterSlotsTest, UnservedSlotsAndMalformedReplies) {
  RedisReply partial = Arr({Arr({Int(0), Int(99), Arr({Str("a"), Int(1), Str("id")})})});
  auto map = ParseClusterSlots(partial, "a:1");
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->owner[99], 0);
  EXPECT_EQ(map->owner[100], -1);
  EXPECT_EQ(ParseClusterSlots(Arr({}), "a:1").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(ParseClusterSlots(Str("x"), "a:1").ok());
  EXPECT_FALSE(
      ParseClusterSlots(Arr({Arr({Int(0), Int(16384), Arr({Str("a"), Int(1)})})}), "a:1").ok());
  EXPECT_FALSE(
      ParseClusterSlots(Arr({Arr({Int(5), Int(1), Arr({Str("a"), Int(1)})})}), "a:1").ok());
  EXPECT_FALSE(ParseClusterSlots(Arr({Arr({Int(0), Int(1), Arr({Str("a")})})}), "a:1").ok());
  EXPECT_FALSE(ParseClusterSlots(Arr({Arr({Int(0), Int(1)})}), "a:1").ok());
}

}  // namespace
}  // namespace legwise
