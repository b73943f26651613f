// legwise-push end to end: a real redis-server, the real legwise-reminder (device registration
// over gRPC, ListDevices), the real legwise-push, and the loopback push services of
// push_endpoints.py (a Web Push service that is also the browser: it checks VAPID with PyJWT and
// decrypts the aes128gcm payload with Python's cryptography; APNs checking the ES256 provider
// token). Feed entries are appended to the outbox in the exact format the reminder's publish
// script writes (reminder_feed_entry_redis_test pins that format against the real script), so
// each test controls which nudges exist and when.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "services/common/redis_client.h"
#include "services/reminder/push/credentials.h"
#include "services/reminder/store/redis_store.h"
#include "services/reminder/store/reminder_store.h"
#include "tests/reminder/push/push_endpoints.h"
#include "tests/reminder/push/push_test_util.h"
#include "tests/reminder/test_plans.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise {
namespace {

namespace v1 = ::legwise::reminder::v1;
using google::protobuf::Struct;
using legwise::push::testing::Endpoint;
using legwise::push::testing::Json;
using legwise::push::testing::Obj;
using legwise::push::testing::Problems;
using legwise::push::testing::Str;
using legwise::testing::FreePort;
using legwise::testing::RedisServer;
using legwise::testing::ServiceProcess;
using legwise::testing::Subprocess;

constexpr char kKeyId[] = "KEY1234567";
constexpr char kTeamId[] = "TEAM123456";
constexpr char kTopic[] = "com.legwise.app";

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return done();
}

class PushIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = legwise::testing::TempDir("push-integration-");
    auto certs = legwise::testing::MakeCertificates(dir_);
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    apns_key_ = legwise::testing::WriteFile(dir_, "AuthKey.p8", push::testing::PemP256());
    vapid_key_ = legwise::testing::WriteFile(dir_, "vapid.pem", push::testing::PemP256());
    ASSERT_TRUE(redis_.Start().ok());
    RedisOptions o;
    o.address = redis_.address();
    o.command_timeout = absl::Seconds(2);
    client_ = std::make_shared<RedisClient>(o);
    reminder_ = std::make_unique<ServiceProcess>(
        "legwise-reminder", std::vector<std::string>{"--redis_addr=" + redis_.address(),
                                                     "--content_addr=", "--dispatcher=false",
                                                     "--push_allow_insecure_loopback"});
    ASSERT_TRUE(reminder_->Start().ok());
    stub_ = v1::ReminderService::NewStub(reminder_->channel());
  }

  Endpoint Start(const std::string& mode, const std::string& script,
                 std::vector<std::string> extra) {
    return push::testing::StartEndpoint(
        {LEGWISE_PUSH_ENDPOINTS, dir_, certs_, 4, "push_integration_"}, mode, script, extra,
        FreePort());
  }
  Endpoint StartWebPush(const std::string& script = "{}") {
    auto vapid = push::LoadVapidCredentials(vapid_key_, "mailto:ops@legwise.example");
    return Start("webpush", script, {"--vapid-public", push::VapidSigner(*vapid).public_key()});
  }
  // FCM and its OAuth token endpoint on one port; the service account names that endpoint.
  Endpoint StartFcm(const std::string& script = "{}") {
    const int port = FreePort();
    fcm_credentials_ = legwise::testing::WriteFile(dir_, absl::StrCat("fcm-", port, ".json"),
                                                   push::testing::FcmServiceAccountJson(port));
    return push::testing::StartEndpoint(
        {LEGWISE_PUSH_ENDPOINTS, dir_, certs_, 4, "push_integration_"}, "fcm", script,
        {"--credentials", fcm_credentials_, "--token-ttl", "3600"}, port);
  }
  Endpoint StartApns(const std::string& script = "{}") {
    return Start(
        "apns", script,
        {"--key-pem", apns_key_, "--key-id", kKeyId, "--team-id", kTeamId, "--topic", kTopic});
  }

  std::unique_ptr<ServiceProcess> StartPush(const Endpoint* apns, const std::string& name,
                                            const Endpoint* fcm = nullptr,
                                            const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--redis_addr=" + redis_.address(),
                                     "--consumer_name=" + name,
                                     "--vapid_private_key_file=" + vapid_key_,
                                     "--vapid_subject=mailto:ops@legwise.example",
                                     "--push_allow_insecure_loopback",
                                     "--push_ca_file=" + certs_.at("ca.pem"),
                                     "--push_initial_backoff=200ms",
                                     "--push_max_backoff=2s",
                                     "--claim_interval=1s",
                                     "--claim_min_idle=3s",
                                     "--trim_interval=1s",
                                     "--replay_window=0s",
                                     "--shutdown_grace=5s"};
    if (apns != nullptr) {
      args.insert(args.end(),
                  {"--apns_key_file=" + apns_key_, std::string("--apns_key_id=") + kKeyId,
                   std::string("--apns_team_id=") + kTeamId, std::string("--apns_topic=") + kTopic,
                   absl::StrCat("--apns_endpoint=https://127.0.0.1:", apns->port),
                   absl::StrCat("--apns_sandbox_endpoint=https://127.0.0.1:", apns->port)});
    }
    if (fcm != nullptr) {
      args.insert(args.end(), {"--fcm_credentials_file=" + fcm_credentials_,
                               absl::StrCat("--fcm_endpoint=https://127.0.0.1:", fcm->port)});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ServiceProcess>("legwise-push", args);
    EXPECT_TRUE(p->Start().ok());
    return p;
  }

  // The browser's subscription `i` as a Device.
  v1::Device WebDevice(const Endpoint& e, int i) {
    std::string text = legwise::testing::ReadFileOrDie(e.subscriptions);
    Struct root = Json(absl::StrCat(R"({"s":)", text, "}"));
    const Struct& s = root.fields().at("s").list_value().values(i).struct_value();
    v1::Device d;
    d.mutable_web_push()->set_endpoint(Str(s, "endpoint"));
    d.mutable_web_push()->set_p256dh(Str(Obj(s, "keys"), "p256dh"));
    d.mutable_web_push()->set_auth(Str(Obj(s, "keys"), "auth"));
    d.set_locale("en");
    return d;
  }

  v1::Device Register(const std::string& user, const v1::Device& device) {
    v1::RegisterDeviceRequest req;
    req.set_user_id(user);
    *req.mutable_device() = device;
    v1::RegisterDeviceResponse resp;
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = stub_->RegisterDevice(&c, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.device();
  }
  std::vector<v1::Device> List(const std::string& user) {
    v1::ListDevicesRequest req;
    req.set_user_id(user);
    v1::ListDevicesResponse resp;
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    EXPECT_TRUE(stub_->ListDevices(&c, req, &resp).ok());
    return {resp.devices().begin(), resp.devices().end()};
  }

  // Appends one due nudge to bucket `bucket`'s outbox, as the publish script does.
  void Publish(const std::string& user, const std::string& nudge_id, int bucket = 0) {
    v1::Nudge n;
    n.set_nudge_id(nudge_id);
    n.set_kind(v1::NUDGE_KIND_HYDRATION);
    n.set_title("Time for a glass of water");
    n.set_body("A glass now keeps your legs from cramping tonight.");
    n.set_local_time("2027-01-15T10:30:00+00:00");
    n.set_locale("en");
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    n.mutable_due_time()->set_seconds(now_ms / 1000);
    absl::StatusOr<RedisReply> r =
        client_->Command({"XADD", reminder::RedisReminderStore::OutboxKey(bucket), "*", "nudge_id",
                          nudge_id, "user", reminder::UserKey(user), "due_ms", absl::StrCat(now_ms),
                          "pub_ms", absl::StrCat(now_ms), "nudge", n.SerializeAsString()});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_FALSE(r->is_error()) << r->str;
  }

  int64_t Pending() {
    int64_t total = 0;
    for (int b = 0; b < 16; ++b) {
      absl::StatusOr<RedisReply> r =
          client_->Command({"XPENDING", reminder::RedisReminderStore::OutboxKey(b), "push"});
      if (r.ok() && !r->is_error() && !r->elements.empty()) total += r->elements[0].integer;
    }
    return total;
  }
  int64_t Length(int bucket) {
    absl::StatusOr<RedisReply> r =
        client_->Command({"XLEN", reminder::RedisReminderStore::OutboxKey(bucket)});
    return r.ok() ? r->integer : -1;
  }

  // Delivered (2xx) Web Push requests per nudge id, and every Topic each nudge was sent with.
  static std::map<std::string, int> Delivered(
      const Endpoint& e, std::map<std::string, std::set<std::string>>* topics = nullptr) {
    std::map<std::string, int> out;
    for (const Struct& r : e.Requests()) {
      double status = r.fields().at("status").number_value();
      if (status < 200 || status >= 300) continue;
      std::string id = Str(Obj(r, "payload"), "nudge_id");
      ++out[id];
      if (topics != nullptr) (*topics)[id].insert(Str(Obj(r, "headers"), "topic"));
    }
    return out;
  }

  std::string dir_;
  std::map<std::string, std::string> certs_;
  std::string apns_key_, vapid_key_, fcm_credentials_;
  RedisServer redis_;
  std::shared_ptr<RedisClient> client_;
  std::unique_ptr<ServiceProcess> reminder_;
  std::unique_ptr<v1::ReminderService::Stub> stub_;
};

// A nudge reaches a registered Web Push device (decrypted and VAPID-checked by the independent
// receiver); APNs 410 forgets the device (ListDevices no longer shows it); 429 with Retry-After is
// retried no sooner and delivered once; everything ends acknowledged and the feed is trimmed.
TEST_F(PushIntegrationTest, DeliversForgetsUnregisteredRetries429AndTrims) {
  const std::string gone_token(64, 'a');
  Endpoint apns = StartApns(
      absl::StrCat(R"({")", gone_token, R"(": [{"status": 410, "reason": "Unregistered"}]})"));
  Endpoint web = StartWebPush(R"({"sub1": [{"status": 429, "retry_after": "2"}]})");
  Register("ana", WebDevice(web, 0));
  v1::Device phone;
  phone.mutable_apns()->set_device_token(gone_token);
  Register("ana", phone);
  v1::Device bea_browser = WebDevice(web, 1);
  bea_browser.set_locale("es");  // not the nudge's locale: her browser gets Spanish texts
  Register("bea", bea_browser);
  ASSERT_EQ(List("ana").size(), 2u);

  auto push = StartPush(&apns, "push-a");
  Publish("ana", "n-ana-1");
  Publish("bea", "n-bea-1", 3);

  ASSERT_TRUE(
      WaitFor([&] { return Delivered(web).size() == 2 && Pending() == 0; }, absl::Seconds(30)))
      << "delivered " << Delivered(web).size() << ", pending " << Pending();
  for (const Struct& r : web.Requests()) {
    EXPECT_TRUE(Problems(r).empty()) << Problems(r)[0];
  }
  std::map<std::string, int> delivered = Delivered(web);
  EXPECT_EQ(delivered["n-ana-1"], 1);
  EXPECT_EQ(delivered["n-bea-1"], 1);
  for (const Struct& r : web.Requests()) {
    if (Str(r, "key") == "sub0") {
      EXPECT_EQ(Str(Obj(r, "payload"), "title"), "Time for a glass of water");
      EXPECT_EQ(Str(Obj(r, "payload"), "kind"), "NUDGE_KIND_HYDRATION");
    }
    if (Str(r, "key") == "sub1") {  // decrypted by the independent receiver
      EXPECT_EQ(Str(Obj(r, "payload"), "title"), "Hora de un vaso de agua");
      EXPECT_EQ(Str(Obj(r, "payload"), "locale"), "es");
      EXPECT_TRUE(absl::StartsWith(Str(Obj(r, "payload"), "body"), "Un vaso ahora"));
      EXPECT_FALSE(absl::StrContains(Str(Obj(r, "payload"), "body"), "{daily_target}"));
    }
  }
  // bea: 429, then the retry no sooner than Retry-After (2 s).
  std::vector<double> bea_times;
  for (const Struct& r : web.Requests()) {
    if (Str(r, "key") == "sub1") bea_times.push_back(r.fields().at("t").number_value());
  }
  ASSERT_EQ(bea_times.size(), 2u);
  EXPECT_GE(bea_times[1] - bea_times[0], 1.9);

  // APNs said 410: the phone is forgotten, the browser kept.
  std::vector<v1::Device> left = List("ana");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(left[0].has_web_push());
  int apns_requests = 0;
  for (const Struct& r : apns.Requests()) {
    (void)r;
    ++apns_requests;
  }
  EXPECT_EQ(apns_requests, 1);

  // Trim: with every group acknowledged and no replay window, the feed empties.
  EXPECT_TRUE(WaitFor([&] { return Length(0) == 0 && Length(3) == 0; }, absl::Seconds(10)))
      << Length(0) << " " << Length(3);

  // Redis restarted (its data kept): the sender recovers and delivers what comes next.
  redis_.Stop();
  absl::SleepFor(absl::Seconds(1));
  ASSERT_TRUE(redis_.Start().ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<RedisReply> r = client_->Command({"PING"});
        return r.ok();
      },
      absl::Seconds(10)));
  Publish("ana", "n-ana-2");
  EXPECT_TRUE(
      WaitFor([&] { return Delivered(web)["n-ana-2"] == 1 && Pending() == 0; }, absl::Seconds(30)));
  EXPECT_EQ(push->Terminate().value_or(-1), 0);
}

// The whole path with nothing written by hand: her plan, her browser and a one-minute snooze go in
// through the public gRPC API; the real dispatcher (a second legwise-reminder replica) publishes
// the snooze when it comes due, and legwise-push delivers it to the browser once (decrypted and
// VAPID-checked by the independent receiver), with the built-in Spanish texts of her device.
TEST_F(PushIntegrationTest, SnoozedNudgeReachesTheBrowserThroughTheRealDispatcher) {
  Endpoint web = StartWebPush();
  v1::Device browser = WebDevice(web, 0);
  browser.set_locale("es");
  ServiceProcess dispatcher("legwise-reminder",
                            {"--redis_addr=" + redis_.address(), "--content_addr="});
  ASSERT_TRUE(dispatcher.Start().ok());
  auto push = StartPush(nullptr, "push-e2e");

  v1::CreateReminderPlanRequest create;
  *create.mutable_plan() = reminder::AlwaysAwakePlan("eva");
  v1::CreateReminderPlanResponse created;
  {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = stub_->CreateReminderPlan(&c, create, &created);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  Register("eva", browser);
  v1::ListUpcomingNudgesRequest lr;
  lr.set_user_id("eva");
  v1::ListUpcomingNudgesResponse listed;
  {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ASSERT_TRUE(stub_->ListUpcomingNudges(&c, lr, &listed).ok());
  }
  const v1::Nudge* hydration = nullptr;
  for (const v1::Nudge& n : listed.nudges()) {
    if (hydration == nullptr && n.kind() == v1::NUDGE_KIND_HYDRATION) hydration = &n;
  }
  ASSERT_NE(hydration, nullptr);
  v1::SnoozeNudgeRequest sn;
  sn.set_user_id("eva");
  sn.set_nudge_id(hydration->nudge_id());
  sn.set_minutes(1);
  v1::SnoozeNudgeResponse snoozed;
  {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = stub_->SnoozeNudge(&c, sn, &snoozed);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const std::string id = snoozed.nudge().nudge_id();
  ASSERT_TRUE(
      WaitFor([&] { return Delivered(web)[id] == 1 && Pending() == 0; }, absl::Seconds(100)))
      << "delivered " << Delivered(web)[id] << ", pending " << Pending();
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(Delivered(web)[id], 1);  // once
  for (const Struct& r : web.Requests()) {
    EXPECT_TRUE(Problems(r).empty()) << Problems(r)[0];
    if (Str(Obj(r, "payload"), "nudge_id") != id) continue;
    EXPECT_EQ(Str(Obj(r, "payload"), "title"), "Hora de un vaso de agua");
    EXPECT_EQ(Str(Obj(r, "payload"), "locale"), "es");
    EXPECT_EQ(Str(Obj(r, "payload"), "kind"), "NUDGE_KIND_HYDRATION");
    // Sent at or after the due time the snooze answered.
    EXPECT_GE(r.fields().at("t").number_value() + 1.0,
              static_cast<double>(snoozed.nudge().due_time().seconds()));
  }
  EXPECT_EQ(push->Terminate().value_or(-1), 0);
}

// FCM through the executable: legwise-push gets an access token from the service account's
// token_uri (an RS256 JWT grant, checked by PyJWT), sends each nudge to FCM HTTP v1 with normal
// priority, a TTL and a collapse key, reuses the token, and forgets a device FCM calls
// UNREGISTERED (404).
TEST_F(PushIntegrationTest, FcmDeliversThroughTheExecutableAndForgetsUnregistered) {
  const std::string ok_token = "fcm-" + std::string(60, 'k');
  const std::string gone_token = "fcm-" + std::string(60, 'g');
  Endpoint fcm = StartFcm(absl::StrCat(R"({")", gone_token, R"(": [{"status": 404}]})"));
  v1::Device phone;
  phone.mutable_fcm()->set_registration_token(ok_token);
  phone.set_locale("en");
  Register("fay", phone);
  v1::Device old_phone;
  old_phone.mutable_fcm()->set_registration_token(gone_token);
  Register("gus", old_phone);
  ASSERT_EQ(List("gus").size(), 1u);

  auto push = StartPush(nullptr, "push-fcm", &fcm);
  Publish("fay", "n-fay-1");
  Publish("gus", "n-gus-1", 5);
  Publish("fay", "n-fay-2", 2);
  ASSERT_TRUE(WaitFor(
      [&] {
        int ok = 0;
        for (const Struct& r : fcm.Requests("fcm_send")) {
          ok += r.fields().at("status").number_value() == 200;
        }
        return ok == 2 && Pending() == 0 && List("gus").empty();
      },
      absl::Seconds(30)))
      << "pending " << Pending() << ", gus devices " << List("gus").size();
  std::map<std::string, int> sent;
  for (const Struct& r : fcm.Requests("fcm_send")) {
    EXPECT_TRUE(Problems(r).empty()) << Problems(r)[0];
    if (r.fields().at("status").number_value() != 200) continue;
    EXPECT_EQ(Str(r, "key"), ok_token);
    EXPECT_EQ(Str(Obj(r, "payload"), "title"), "Time for a glass of water");
    ++sent[Str(Obj(r, "payload"), "nudge_id")];
  }
  EXPECT_EQ(sent["n-fay-1"], 1);
  EXPECT_EQ(sent["n-fay-2"], 1);
  EXPECT_EQ(fcm.Requests("fcm_token").size(), 1u);  // one access token for every send
  EXPECT_EQ(List("fay").size(), 1u);
  EXPECT_EQ(push->Terminate().value_or(-1), 0);
}

// With legwise-content running, a device whose locale is not the nudge's gets content's texts in
// her locale (not the built-in fallback, which words them differently), her target filled in.
TEST_F(PushIntegrationTest, DeviceLocaleTextsComeFromContent) {
  ServiceProcess content("legwise-content", {"--redis_addr=" + redis_.address()});
  ASSERT_TRUE(content.Start().ok());
  Endpoint web = StartWebPush();
  v1::Device browser = WebDevice(web, 0);
  browser.set_locale("es");
  Register("ines", browser);
  auto push = StartPush(nullptr, "push-content", nullptr, {"--content_addr=" + content.address()});
  Publish("ines", "n-ines-1");  // an English nudge
  ASSERT_TRUE(
      WaitFor([&] { return Delivered(web)["n-ines-1"] == 1 && Pending() == 0; }, absl::Seconds(30)))
      << "pending " << Pending();
  for (const Struct& r : web.Requests()) {
    if (Str(Obj(r, "payload"), "nudge_id") != "n-ines-1") continue;
    EXPECT_TRUE(Problems(r).empty()) << Problems(r)[0];
    // services/content/catalog/data/index.textproto's Spanish hydration text; the built-in one is
    // "Hora de un vaso de agua".
    EXPECT_EQ(Str(Obj(r, "payload"), "title"), "Hora de beber agua");
    EXPECT_EQ(Str(Obj(r, "payload"), "locale"), "es");
    EXPECT_TRUE(absl::StartsWith(Str(Obj(r, "payload"), "body"), "Un vaso de agua ahora"));
    EXPECT_FALSE(absl::StrContains(Str(Obj(r, "payload"), "body"), "{daily_target}"));
  }
  EXPECT_EQ(push->Terminate().value_or(-1), 0);
}

// A sender replica killed (SIGKILL) mid-batch, and a new one started: every nudge arrives (0 lost),
// and a nudge sent twice (the provider's 201 came before the XACK that died with the process) is
// sent with the same Topic, so the browser replaces the first copy: one notification per nudge.
TEST_F(PushIntegrationTest, SenderKilledMidBatchLosesNothing) {
  // Answers delayed a little (the fake answers one at a time), so the kill lands with some pushes
  // acknowledged, some answered but not yet acknowledged, and some still in flight.
  constexpr int kNudges = 300;
  std::string script = R"({"sub0": [)";
  for (int i = 0; i < kNudges; ++i) {
    absl::StrAppend(&script, i ? "," : "", R"({"status": 201, "delay": )", i % 10 == 0 ? 0.3 : 0.0,
                    "}");
  }
  absl::StrAppend(&script, "]}");
  Endpoint web = StartWebPush(script);
  Register("cai", WebDevice(web, 0));

  auto first = StartPush(nullptr, "push-a");
  for (int i = 0; i < kNudges; ++i) Publish("cai", absl::StrCat("n-cai-", i), i % 16);
  ASSERT_TRUE(WaitFor([&] { return !Delivered(web).empty(); }, absl::Seconds(30)));
  first->Kill();
  const int64_t pending_at_kill = Pending();
  const size_t before = Delivered(web).size();
  EXPECT_GT(pending_at_kill, 0) << "the kill did not land mid-batch";
  auto second = StartPush(nullptr, "push-b");  // takes over push-a's pending entries
  ASSERT_TRUE(WaitFor([&] { return Delivered(web).size() == kNudges && Pending() == 0; },
                      absl::Seconds(60)))
      << Delivered(web).size() << " delivered, " << Pending() << " pending\n"
      << legwise::testing::HttpGet(second->metrics_port(), "/metrics").value_or("");
  std::map<std::string, std::set<std::string>> topics;
  std::map<std::string, int> delivered = Delivered(web, &topics);
  int resent = 0;
  for (int i = 0; i < kNudges; ++i) {
    const std::string id = absl::StrCat("n-cai-", i);
    EXPECT_GE(delivered[id], 1) << id << " lost";
    EXPECT_EQ(topics[id].size(), 1u) << id << " sent with different Topics";
    resent += delivered[id] - 1;
  }
  std::cout << "killed with " << before << " answered by the receiver, " << pending_at_kill
            << " entries unacknowledged; resent after takeover: " << resent << " (same Topic)\n";
  // Only entries that were unacknowledged at the kill are sent again.
  EXPECT_LE(resent, pending_at_kill);
  EXPECT_EQ(second->Terminate().value_or(-1), 0);
}

// A push waiting out Retry-After longer than claim_min_idle (3 s here): its replica keeps the entry
// fresh (XCLAIM JUSTID every second), so the other replica's XAUTOCLAIM does not take it over and
// send it a second time.
TEST_F(PushIntegrationTest, LongRetryIsNotTakenOverByAnotherReplica) {
  Endpoint web = StartWebPush(
      R"({"sub0": [{"status": 429, "retry_after": "4"}, {"status": 503, "retry_after": "4"}]})");
  Register("dee", WebDevice(web, 0));
  auto a = StartPush(nullptr, "push-a");
  auto b = StartPush(nullptr, "push-b");
  Publish("dee", "n-dee-1");
  ASSERT_TRUE(
      WaitFor([&] { return Delivered(web).size() == 1 && Pending() == 0; }, absl::Seconds(30)))
      << Delivered(web).size() << " delivered, " << Pending() << " pending";
  EXPECT_EQ(Delivered(web)["n-dee-1"], 1);
  EXPECT_EQ(web.Requests().size(), 3u) << "429, 503, 201: nothing sent twice";
  for (auto* p : {a.get(), b.get()}) {
    const std::string metrics =
        legwise::testing::HttpGet(p->metrics_port(), "/metrics").value_or("");
    EXPECT_FALSE(absl::StrContains(metrics, "legwise_push_feed_claimed_total 1")) << metrics;
  }
  EXPECT_EQ(a->Terminate().value_or(-1), 0);
  EXPECT_EQ(b->Terminate().value_or(-1), 0);
}

}  // namespace
}  // namespace legwise
