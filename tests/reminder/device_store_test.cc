// The DeviceStore contract, one typed suite run against both implementations: the Redis store on a
// real redis-server (its Lua scripts) and the in-memory store. Same target -> same device_id, the
// 10-device limit (TOO_MANY_DEVICES), per-user isolation, unregister freeing the target and a slot.
// Then the adapter (ReminderServiceImpl) over the memory store: field-naming INVALID_ARGUMENT.
#include "services/reminder/devices/device_store.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/redis_client.h"
#include "services/common/validation.h"
#include "services/reminder/delivery/nudge_hub.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/devices/device_proto.h"
#include "services/reminder/reminder_service.h"
#include "services/reminder/store/memory_store.h"
#include "services/reminder/store/reminder_store.h"
#include "tests/support/process.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

constexpr char kP256dh[] =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr char kAuth[] = "BTBZMqHH6r4Tts7J_aSIgg";

v1::Device Apns(int i, int64_t created = 1000) {
  v1::Device d;
  d.set_device_id(NewDeviceId());
  d.mutable_apns()->set_device_token(absl::StrFormat("%064x", i));
  d.set_locale("en");
  d.mutable_create_time()->set_seconds(created);
  return d;
}

v1::Device Web(const std::string& endpoint, int64_t created = 1000) {
  v1::Device d;
  d.set_device_id(NewDeviceId());
  d.mutable_web_push()->set_endpoint(endpoint);
  d.mutable_web_push()->set_p256dh(kP256dh);
  d.mutable_web_push()->set_auth(kAuth);
  d.mutable_create_time()->set_seconds(created);
  return d;
}

struct MemoryFactory {
  std::unique_ptr<DeviceStore> Make() { return std::make_unique<MemoryDeviceStore>(); }
};

struct RedisFactory {
  std::unique_ptr<testing::RedisServer> server;
  std::unique_ptr<DeviceStore> Make() {
    server = std::make_unique<testing::RedisServer>();
    EXPECT_TRUE(server->Start().ok());
    RedisOptions o;
    o.address = server->address();
    o.command_timeout = absl::Seconds(5);
    return std::make_unique<RedisDeviceStore>(std::make_shared<RedisClient>(o));
  }
};

template <typename Factory>
class DeviceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = factory_.Make(); }
  Factory factory_;
  std::unique_ptr<DeviceStore> store_;
};

using Factories = ::testing::Types<MemoryFactory, RedisFactory>;
TYPED_TEST_SUITE(DeviceStoreTest, Factories);

TYPED_TEST(DeviceStoreTest, SameTargetAnswersTheSameDevice) {
  const v1::Device first = Web("https://push.example.com/a", 1000);
  auto a = this->store_->Register("ana", first, 10);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->device_id(), first.device_id());

  // Same endpoint, a fresh id, a new locale and later time: the stored id and create_time come
  // back, the locale is updated.
  v1::Device again = Web("https://push.example.com/a", 2000);
  again.set_locale("es");
  auto b = this->store_->Register("ana", again, 10);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->device_id(), first.device_id());
  EXPECT_EQ(b->create_time().seconds(), 1000);
  EXPECT_EQ(b->locale(), "es");

  auto list = this->store_->List("ana");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].locale(), "es");
  EXPECT_EQ((*list)[0].device_id(), first.device_id());
}

TYPED_TEST(DeviceStoreTest, AtMostMaxDevicesPerUser) {
  std::set<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    auto r = this->store_->Register("bea", Apns(i, 1000 + i), 10);
    ASSERT_TRUE(r.ok()) << r.status();
    ids.insert(r->device_id());
  }
  EXPECT_EQ(ids.size(), 10u);
  auto full = this->store_->Register("bea", Apns(99), 10);
  ASSERT_EQ(full.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(full.status()), "TOO_MANY_DEVICES");
  // Re-registering one she has is still fine at the limit.
  auto again = this->store_->Register("bea", Apns(3, 5000), 10);
  ASSERT_TRUE(again.ok()) << again.status();
  // Another user is not affected by her count.
  EXPECT_TRUE(this->store_->Register("cleo", Apns(99), 10).ok());

  auto list = this->store_->List("bea");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 10u);
  for (size_t i = 1; i < list->size(); ++i) {  // oldest first
    EXPECT_LE((*list)[i - 1].create_time().seconds(), (*list)[i].create_time().seconds());
  }
  // Unregistering one frees a slot.
  ASSERT_TRUE(this->store_->Unregister("bea", (*list)[0].device_id()).ok());
  EXPECT_TRUE(this->store_->Register("bea", Apns(99), 10).ok());
}

TYPED_TEST(DeviceStoreTest, UsersReachOnlyTheirOwnDevices) {
  auto a = this->store_->Register("ana", Apns(1), 10);
  ASSERT_TRUE(a.ok());
  // The same token under another user is another device.
  auto b = this->store_->Register("bea", Apns(1), 10);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->device_id(), b->device_id());
  EXPECT_EQ(this->store_->Unregister("bea", a->device_id()).code(), absl::StatusCode::kNotFound);
  auto list = this->store_->List("ana");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  auto none = this->store_->List("nobody");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TYPED_TEST(DeviceStoreTest, UnregisterForgetsTheTarget) {
  auto a = this->store_->Register("ana", Apns(7), 10);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(this->store_->Unregister("ana", a->device_id()).ok());
  EXPECT_EQ(this->store_->Unregister("ana", a->device_id()).code(), absl::StatusCode::kNotFound);
  auto list = this->store_->List("ana");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  // Registering the target again is a new device.
  const v1::Device fresh = Apns(7);
  auto b = this->store_->Register("ana", fresh, 10);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->device_id(), fresh.device_id());
  EXPECT_NE(b->device_id(), a->device_id());
}

// The push sender reads the feed, whose entries carry UserKey(user_id): it lists and forgets by
// that key, and forgetting twice (a retried outcome) is not an error.
TYPED_TEST(DeviceStoreTest, TheSenderListsAndForgetsByUserKey) {
  auto a = this->store_->Register("ana", Apns(1, 1000), 10);
  auto b = this->store_->Register("ana", Web("https://push.example.com/b", 2000), 10);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(this->store_->Register("bea", Apns(2), 10).ok());
  auto by_key = this->store_->ListForUserKey(UserKey("ana"));
  ASSERT_TRUE(by_key.ok()) << by_key.status();
  ASSERT_EQ(by_key->size(), 2u);
  EXPECT_EQ((*by_key)[0].device_id(), a->device_id());
  EXPECT_EQ((*by_key)[1].device_id(), b->device_id());
  auto raw = this->store_->ListForUserKey("ana");  // the id itself is not a key
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE(raw->empty());

  ASSERT_TRUE(this->store_->ForgetForUserKey(UserKey("ana"), a->device_id()).ok());
  EXPECT_TRUE(this->store_->ForgetForUserKey(UserKey("ana"), a->device_id()).ok());
  EXPECT_TRUE(this->store_->ForgetForUserKey(UserKey("nobody"), "d0").ok());
  auto left = this->store_->List("ana");
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].device_id(), b->device_id());
  // Forgotten means its target is free: registering it again is a new device.
  const v1::Device fresh = Apns(1);
  auto again = this->store_->Register("ana", fresh, 10);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->device_id(), fresh.device_id());
  auto bea = this->store_->List("bea");
  ASSERT_TRUE(bea.ok());
  EXPECT_EQ(bea->size(), 1u);
}

TEST(DeviceRedisLayoutTest, KeysAreInTheUsersSlotAndHoldNoUserId) {
  testing::RedisServer server;
  ASSERT_TRUE(server.Start().ok());
  RedisOptions o;
  o.address = server.address();
  auto client = std::make_shared<RedisClient>(o);
  RedisDeviceStore store(client);
  ASSERT_TRUE(store.Register("ana-secret-id", Apns(1), 10).ok());
  auto keys = client->Command({"KEYS", "*"});
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->elements.size(), 2u);
  std::set<std::string> tags;
  for (const auto& k : keys->elements) {
    EXPECT_EQ(k.str.find("ana-secret-id"), std::string::npos);
    const size_t open = k.str.find('{'), close = k.str.find('}');
    ASSERT_NE(open, std::string::npos);
    tags.insert(k.str.substr(open, close - open + 1));
  }
  EXPECT_EQ(tags.size(), 1u);  // one hash slot: the Lua script's keys may not cross slots
}

// --- the adapter ---------------------------------------------------------------------------------

class DeviceServiceTest : public ::testing::Test {
 protected:
  DeviceServiceTest()
      : store_(4, [] { return absl::FromUnixSeconds(1780000000); }),
        hub_(&store_),
        texts_(nullptr),
        planner_(ScheduleRules{}, [] { return absl::FromUnixSeconds(1780000000); }),
        service_(&store_, &hub_, &texts_, &planner_, Options()) {}

  ReminderServiceOptions Options() {
    ReminderServiceOptions o;
    o.devices = &devices_;
    return o;
  }

  std::set<std::string> Fields(const absl::Status& s) {
    std::set<std::string> out;
    for (const auto& v : GetFieldViolations(s)) out.insert(v.field);
    return out;
  }

  MemoryDeviceStore devices_;
  MemoryReminderStore store_;
  NudgeHub hub_;
  NudgeTextProvider texts_;
  Planner planner_;
  ReminderServiceImpl service_;
};

TEST_F(DeviceServiceTest, RegisterSetsServerFieldsAndIsIdempotentPerTarget) {
  v1::RegisterDeviceRequest req;
  req.set_user_id("ana");
  *req.mutable_device() = Web("https://push.example.com/x");
  req.mutable_device()->set_device_id("client-chosen");
  req.mutable_device()->mutable_create_time()->set_seconds(5);
  v1::RegisterDeviceResponse r1, r2;
  ASSERT_TRUE(service_.DoRegisterDevice(req, &r1).ok());
  EXPECT_NE(r1.device().device_id(), "client-chosen");
  EXPECT_EQ(r1.device().create_time().seconds(), 1780000000);
  ASSERT_TRUE(service_.DoRegisterDevice(req, &r2).ok());
  EXPECT_EQ(r2.device().device_id(), r1.device().device_id());

  v1::ListDevicesRequest lreq;
  lreq.set_user_id("ana");
  v1::ListDevicesResponse list;
  ASSERT_TRUE(service_.DoListDevices(lreq, &list).ok());
  ASSERT_EQ(list.devices_size(), 1);
  EXPECT_EQ(list.devices(0).web_push().endpoint(), "https://push.example.com/x");

  v1::UnregisterDeviceRequest ureq;
  ureq.set_user_id("ana");
  ureq.set_device_id(r1.device().device_id());
  ASSERT_TRUE(service_.DoUnregisterDevice(ureq).ok());
  EXPECT_EQ(service_.DoUnregisterDevice(ureq).code(), absl::StatusCode::kNotFound);
}

TEST_F(DeviceServiceTest, MalformedTargetsNameTheField) {
  v1::RegisterDeviceRequest req;
  v1::RegisterDeviceResponse resp;
  absl::Status s = service_.DoRegisterDevice(req, &resp);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Fields(s).count("user_id"));
  EXPECT_TRUE(Fields(s).count("device"));

  req.set_user_id("ana");
  req.mutable_device()->set_locale("en");  // no target
  s = service_.DoRegisterDevice(req, &resp);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);

  *req.mutable_device() = Web("https://push.example.com/x");
  req.mutable_device()->mutable_web_push()->set_p256dh("BBBB");  // not a P-256 point
  req.mutable_device()->mutable_web_push()->set_auth("AAAA");    // not 16 bytes
  s = service_.DoRegisterDevice(req, &resp);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Fields(s).count("device.web_push.p256dh")) << s;
  EXPECT_TRUE(Fields(s).count("device.web_push.auth")) << s;
  EXPECT_EQ(std::string(s.message()).find("BBBB"), std::string::npos);

  *req.mutable_device() = Web("https://10.0.0.1/x");  // SSRF: an IP literal
  s = service_.DoRegisterDevice(req, &resp);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Fields(s).count("device.web_push.endpoint")) << s;

  *req.mutable_device() = Apns(1);
  req.mutable_device()->mutable_apns()->set_device_token(std::string(63, 'a'));
  s = service_.DoRegisterDevice(req, &resp);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Fields(s).count("device.apns.device_token")) << s;

  v1::UnregisterDeviceRequest ureq;
  ureq.set_user_id("ana");
  s = service_.DoUnregisterDevice(ureq);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Fields(s).count("device_id"));
}

TEST_F(DeviceServiceTest, EleventhDeviceIsFailedPrecondition) {
  v1::RegisterDeviceRequest req;
  req.set_user_id("bea");
  v1::RegisterDeviceResponse resp;
  for (int i = 0; i < 10; ++i) {
    *req.mutable_device() = Apns(i);
    ASSERT_TRUE(service_.DoRegisterDevice(req, &resp).ok());
  }
  *req.mutable_device() = Apns(10);
  absl::Status s = service_.DoRegisterDevice(req, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(s), "TOO_MANY_DEVICES");
}

}  // namespace
}  // namespace legwise::reminder
