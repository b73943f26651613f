#include "services/common/config.h"

#include <map>

#include "gtest/gtest.h"

namespace legwise {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](absl::string_view name) -> absl::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return absl::nullopt;
    return it->second;
  };
}

struct Flags {
  std::string addr = "127.0.0.1:6379";
  int port = 50051;
  bool dev = false;
  absl::Duration timeout = absl::Milliseconds(150);
  FlagSet set{"prog"};
  Flags() {
    set.AddString("redis_addr", &addr, "Redis");
    set.AddInt("port", &port, "port", 0, 65535);
    set.AddBool("memory_store", &dev, "dev");
    set.AddDuration("timeout", &timeout, "timeout");
  }
};

TEST(FlagSetTest, DefaultsStayWhenNothingIsGiven) {
  Flags f;
  const char* argv[] = {"prog"};
  ASSERT_TRUE(f.set.Parse(1, argv, FakeEnv({})).ok());
  EXPECT_EQ(f.addr, "127.0.0.1:6379");
  EXPECT_EQ(f.port, 50051);
  EXPECT_FALSE(f.dev);
  EXPECT_EQ(f.timeout, absl::Milliseconds(150));
}

TEST(FlagSetTest, CommandLineBeatsEnvironmentBeatsDefault) {
  Flags f;
  const char* argv[] = {"prog", "--port=6000", "--timeout", "2s", "--memory_store"};
  ASSERT_TRUE(
      f.set
          .Parse(5, argv, FakeEnv({{"LEGWISE_PORT", "7000"}, {"LEGWISE_REDIS_ADDR", "redis:6380"}}))
          .ok());
  EXPECT_EQ(f.port, 6000);          // command line wins
  EXPECT_EQ(f.addr, "redis:6380");  // environment over default
  EXPECT_EQ(f.timeout, absl::Seconds(2));
  EXPECT_TRUE(f.dev);
}

TEST(FlagSetTest, ErrorsNameTheFlagOrVariable) {
  {
    Flags f;
    const char* argv[] = {"prog", "--prot=1"};
    absl::Status s = f.set.Parse(2, argv, FakeEnv({}));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("--prot"), absl::string_view::npos) << s;
  }
  {
    Flags f;
    const char* argv[] = {"prog", "--port=70000"};
    absl::Status s = f.set.Parse(2, argv, FakeEnv({}));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("--port"), absl::string_view::npos) << s;
    EXPECT_EQ(f.port, 50051) << "a bad value must not change the setting";
  }
  {
    Flags f;
    const char* argv[] = {"prog"};
    absl::Status s = f.set.Parse(1, argv, FakeEnv({{"LEGWISE_TIMEOUT", "soon"}}));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("LEGWISE_TIMEOUT"), absl::string_view::npos) << s;
  }
  {
    Flags f;
    const char* argv[] = {"prog", "--memory_store=maybe"};
    EXPECT_FALSE(f.set.Parse(2, argv, FakeEnv({})).ok());
  }
  {
    Flags f;
    const char* argv[] = {"prog", "--redis_addr"};
    EXPECT_FALSE(f.set.Parse(2, argv, FakeEnv({})).ok()) << "a value is required";
  }
  {
    Flags f;
    const char* argv[] = {"prog", "stray"};
    EXPECT_FALSE(f.set.Parse(2, argv, FakeEnv({})).ok());
  }
}

TEST(FlagSetTest, HelpAndUsage) {
  Flags f;
  const char* argv[] = {"prog", "--help"};
  ASSERT_TRUE(f.set.Parse(2, argv, FakeEnv({})).ok());
  EXPECT_TRUE(f.set.help_requested());
  std::string usage = f.set.Usage();
  EXPECT_NE(usage.find("--redis_addr"), std::string::npos);
  EXPECT_NE(usage.find("LEGWISE_REDIS_ADDR"), std::string::npos);
  EXPECT_EQ(FlagSet::EnvName("content_addr"), "LEGWISE_CONTENT_ADDR");
}

TEST(ValidateHostPortTest, AcceptsHostPortOnly) {
  EXPECT_TRUE(ValidateHostPort("127.0.0.1:6379", "--redis_addr").ok());
  EXPECT_TRUE(ValidateHostPort("redis.legwise.svc:6379", "--redis_addr").ok());
  EXPECT_TRUE(ValidateHostPort("[::1]:50052", "--content_addr").ok());
  for (const char* bad : {"", "6379", ":6379", "host:", "host:0", "host:70000", "host:port"}) {
    absl::Status s = ValidateHostPort(bad, "--redis_addr");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("--redis_addr"), absl::string_view::npos);
  }
  // A list is refused where one address is expected, with a hint.
  absl::Status list = ValidateHostPort("a:1,b:2", "--redis_addr");
  EXPECT_EQ(list.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(list.message().find("redis_cluster"), absl::string_view::npos) << list;
}

TEST(ValidateHostPortListTest, SeedNodes) {
  EXPECT_TRUE(ValidateHostPortList("127.0.0.1:7000", "--redis_addr").ok());
  EXPECT_TRUE(ValidateHostPortList("10.0.0.1:7000,10.0.0.2:7000, [::1]:7001", "--redis_addr").ok());
  for (const char* bad : {"", "a:1,", ",a:1", "a:1,,b:2", "a:1,b"}) {
    absl::Status s = ValidateHostPortList(bad, "--redis_addr");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("--redis_addr"), absl::string_view::npos);
  }
  EXPECT_FALSE(ValidateHostPortList("a:1,a:2,a:3", "--redis_addr", 2).ok());
}

}  // namespace
}  // namespace legwise
