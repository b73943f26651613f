// The device RPCs end to end: a real redis-server, the real legwise-reminder over gRPC, and
// legwisectl's `device register|list|unregister`. Registrations survive a reminder restart (they
// live in Redis), the same subscription twice is one device, an 11th is TOO_MANY_DEVICES, a
// loopback endpoint is refused unless --push_allow_insecure_loopback, and legwisectl never prints
// a whole token.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise {
namespace {

namespace v1 = ::legwise::reminder::v1;
using ::legwise::testing::RedisServer;
using ::legwise::testing::ServiceProcess;

constexpr char kP256dh[] =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr char kAuth[] = "BTBZMqHH6r4Tts7J_aSIgg";

void Deadline(grpc::ClientContext* c) {
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

grpc::Status Register(v1::ReminderService::Stub* stub, const std::string& user,
                      const v1::Device& device, v1::Device* out, const std::string& token = "") {
  v1::RegisterDeviceRequest req;
  req.set_user_id(user);
  *req.mutable_device() = device;
  v1::RegisterDeviceResponse resp;
  grpc::ClientContext c;
  Deadline(&c);
  if (!token.empty()) c.AddMetadata("authorization", "Bearer " + token);
  grpc::Status s = stub->RegisterDevice(&c, req, &resp);
  if (out != nullptr) *out = resp.device();
  return s;
}

std::vector<v1::Device> List(v1::ReminderService::Stub* stub, const std::string& user) {
  v1::ListDevicesRequest req;
  req.set_user_id(user);
  v1::ListDevicesResponse resp;
  grpc::ClientContext c;
  Deadline(&c);
  grpc::Status s = stub->ListDevices(&c, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {resp.devices().begin(), resp.devices().end()};
}

v1::Device WebDevice(const std::string& endpoint) {
  v1::Device d;
  d.mutable_web_push()->set_endpoint(endpoint);
  d.mutable_web_push()->set_p256dh(kP256dh);
  d.mutable_web_push()->set_auth(kAuth);
  d.set_locale("en");
  return d;
}

std::string Legwisectl(const std::string& args, int* rc) {
  FILE* p = popen(absl::StrCat(testing::BinDir(), "/legwisectl ", args, " 2>&1").c_str(), "r");
  std::string out;
  if (p == nullptr) return out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

TEST(DeviceIntegration, RegisterListUnregisterOverGrpcAndLegwisectl) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  const std::vector<std::string> args = {"--redis_addr=" + redis.address(),
                                         "--content_addr=127.0.0.1:1"};
  std::string first_id;
  {
    ServiceProcess svc("legwise-reminder", args);
    ASSERT_TRUE(svc.Start().ok());
    auto stub = v1::ReminderService::NewStub(svc.channel());

    v1::Device a, b;
    ASSERT_TRUE(Register(stub.get(), "ana", WebDevice("https://push.example.com/s/1"), &a).ok());
    ASSERT_TRUE(Register(stub.get(), "ana", WebDevice("https://push.example.com/s/1"), &b).ok());
    EXPECT_FALSE(a.device_id().empty());
    EXPECT_EQ(a.device_id(), b.device_id());
    EXPECT_GT(a.create_time().seconds(), 0);
    first_id = a.device_id();

    // Loopback endpoints are refused without the development flag, naming the field.
    grpc::Status s = Register(stub.get(), "ana", WebDevice("http://127.0.0.1:9/x"), nullptr);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(
        absl::StrContains(s.error_details() + s.error_message(), "device.web_push.endpoint"))
        << s.error_message();

    for (int i = 0; i < 9; ++i) {
      v1::Device d;
      d.mutable_apns()->set_device_token(absl::StrFormat("%064x", i + 1));
      ASSERT_TRUE(Register(stub.get(), "ana", d, nullptr).ok());
    }
    v1::Device eleventh;
    eleventh.mutable_fcm()->set_registration_token("fcm-token-eleven");
    s = Register(stub.get(), "ana", eleventh, nullptr);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_TRUE(absl::StrContains(s.error_details(), "TOO_MANY_DEVICES"));
    EXPECT_EQ(List(stub.get(), "ana").size(), 10u);
    EXPECT_TRUE(List(stub.get(), "bea").empty());
    ASSERT_TRUE(svc.Terminate().ok());
  }
  ServiceProcess svc("legwise-reminder", args);
  ASSERT_TRUE(svc.Start().ok());
  auto stub = v1::ReminderService::NewStub(svc.channel());
  std::vector<v1::Device> after = List(stub.get(), "ana");
  ASSERT_EQ(after.size(), 10u);               // in Redis, not in the process
  EXPECT_EQ(after[0].device_id(), first_id);  // oldest first

  // legwisectl: list shortens tokens, unregister removes, register adds.
  const std::string addr = "--reminder_addr=" + svc.address();
  int rc = -1;
  std::string out = Legwisectl(addr + " device list --user ana", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(absl::StrContains(out, first_id)) << out;
  EXPECT_TRUE(absl::StrContains(out, "web_push https://push.example.com")) << out;
  EXPECT_FALSE(absl::StrContains(out, "/s/1")) << "the endpoint's path is a secret: " << out;
  EXPECT_FALSE(absl::StrContains(out, absl::StrFormat("%064x", 1))) << out;

  out = Legwisectl(addr + " device unregister --user ana --device " + first_id, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(List(stub.get(), "ana").size(), 9u);
  out = Legwisectl(addr + " device unregister --user ana --device " + first_id, &rc);
  EXPECT_NE(rc, 0) << out;

  out = Legwisectl(addr + " device register --user ana --fcm fcm-token-from-cli --locale es", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "registered")) << out;
  std::vector<v1::Device> now = List(stub.get(), "ana");
  ASSERT_EQ(now.size(), 10u);
  EXPECT_EQ(now.back().fcm().registration_token(), "fcm-token-from-cli");
  EXPECT_EQ(now.back().locale(), "es");

  out = Legwisectl(addr + " device register --user ana --apns abc", &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "device.apns.device_token")) << out;
}

TEST(DeviceIntegration, InsecureLoopbackFlagAcceptsLocalEndpoints) {
  ServiceProcess svc("legwise-reminder", {"--memory_store", "--content_addr=127.0.0.1:1",
                                          "--push_allow_insecure_loopback"});
  ASSERT_TRUE(svc.Start().ok());
  auto stub = v1::ReminderService::NewStub(svc.channel());
  EXPECT_TRUE(Register(stub.get(), "ana", WebDevice("http://127.0.0.1:8443/push/x"), nullptr).ok());
  EXPECT_EQ(
      Register(stub.get(), "ana", WebDevice("http://10.0.0.1:8443/push/x"), nullptr).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
}

// With bearer tokens: a user reaches only her own devices; another user's token is refused on every
// device RPC, and a malformed p256dh is INVALID_ARGUMENT naming the field without echoing it.
TEST(DeviceIntegration, OnlyHerOwnDevicesAndMalformedKeysNamed) {
  constexpr char kIss[] = "https://auth.legwise.test";
  constexpr char kAud[] = "legwise-api";
  const std::string dir = testing::TempDir("legwise-devices-");
  auto key = testing::SigningKey::Ec("k1");
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  ServiceProcess svc(
      "legwise-reminder",
      {"--redis_addr=" + redis.address(), "--content_addr=127.0.0.1:1",
       "--jwks_file=" + testing::WriteFile(dir, "jwks.json", testing::Jwks({key.get()})),
       std::string("--jwt_issuer=") + kIss, std::string("--jwt_audience=") + kAud});
  ASSERT_TRUE(svc.Start().ok()) << svc.log_path();
  auto stub = v1::ReminderService::NewStub(svc.channel());
  const std::string ana = key->Sign(testing::Claims(kIss, kAud, "ana", absl::Hours(1)));
  const std::string bea = key->Sign(testing::Claims(kIss, kAud, "bea", absl::Hours(1)));

  v1::Device mine;
  ASSERT_TRUE(
      Register(stub.get(), "ana", WebDevice("https://push.example.com/s/a"), &mine, ana).ok());
  EXPECT_EQ(Register(stub.get(), "ana", WebDevice("https://push.example.com/s/b"), nullptr, bea)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Register(stub.get(), "ana", WebDevice("https://push.example.com/s/b"), nullptr, "")
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  {
    v1::ListDevicesRequest req;
    req.set_user_id("ana");
    v1::ListDevicesResponse resp;
    grpc::ClientContext c;
    Deadline(&c);
    c.AddMetadata("authorization", "Bearer " + bea);
    EXPECT_EQ(stub->ListDevices(&c, req, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(resp.devices_size(), 0);
  }
  auto unregister = [&](const std::string& token) {
    v1::UnregisterDeviceRequest req;
    req.set_user_id("ana");
    req.set_device_id(mine.device_id());
    v1::UnregisterDeviceResponse resp;
    grpc::ClientContext c;
    Deadline(&c);
    c.AddMetadata("authorization", "Bearer " + token);
    return stub->UnregisterDevice(&c, req, &resp).error_code();
  };
  EXPECT_EQ(unregister(bea), grpc::StatusCode::PERMISSION_DENIED);

  // 65 bytes with the uncompressed prefix, but not a point on P-256.
  v1::Device bad = WebDevice("https://push.example.com/s/c");
  const std::string off_curve =
      "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE";
  bad.mutable_web_push()->set_p256dh(off_curve);
  grpc::Status s = Register(stub.get(), "ana", bad, nullptr, ana);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message() + s.error_details(), "device.web_push.p256dh"))
      << s.error_message();
  EXPECT_FALSE(absl::StrContains(s.error_message() + s.error_details(), off_curve));
  bad = WebDevice("https://push.example.com/s/c");
  bad.mutable_web_push()->set_auth("AAAA");  // 3 bytes, not 16
  s = Register(stub.get(), "ana", bad, nullptr, ana);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message() + s.error_details(), "device.web_push.auth"))
      << s.error_message();

  // Still hers, untouched by bea's attempts; then she removes it and it is gone.
  EXPECT_EQ(unregister(ana), grpc::StatusCode::OK);
  EXPECT_EQ(unregister(ana), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace legwise
