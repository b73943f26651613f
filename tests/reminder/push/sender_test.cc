// The push sender against real processes on loopback that behave as Apple's, Google's and a Web
// Push service's documentation says (tests/reminder/push/push_endpoints.py): APNs and FCM over
// TLS with ALPN h2, Web Push over HTTP/2 cleartext (--push_allow_insecure_loopback). Those servers
// verify our JWT signatures with PyJWT and decrypt our Web Push payloads with Python's
// cryptography, so a bug in our crypto fails here. Every request they saw is in a record file.
#include "services/reminder/push/sender.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "services/common/logging.h"
#include "tests/reminder/push/push_endpoints.h"
#include "tests/reminder/push/push_test_util.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise::push {
namespace {

using google::protobuf::Struct;
using legwise::testing::FreePort;
using legwise::testing::LogDir;
using legwise::testing::Subprocess;
using testing::Endpoint;
using testing::Json;
using testing::Num;
using testing::Obj;
using testing::Problems;
using testing::Str;

constexpr char kTopic[] = "com.legwise.app";
constexpr char kKeyId[] = "KEY1234567";
constexpr char kTeamId[] = "TEAM123456";

std::string Token(char c) { return std::string(64, c); }

// Collects each job's one callback.
class Results {
 public:
  PushCallback For(const std::string& id) {
    return [this, id](const PushResult& r) {
      absl::MutexLock lock(&mu_);
      EXPECT_EQ(results_.count(id), 0u) << "two callbacks for " << id;
      results_[id] = r;
    };
  }
  PushResult Wait(const std::string& id, absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto done = [&] { return results_.count(id) > 0; };
    mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
    if (!done()) {
      ADD_FAILURE() << "no result for " << id;
      return PushResult{};
    }
    return results_[id];
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, PushResult> results_;
};

class PushSenderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(legwise::testing::TempDir("push-sender-"));
    auto certs = legwise::testing::MakeCertificates(*dir_);
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = new std::map<std::string, std::string>(*certs);
    apns_key_ =
        new std::string(legwise::testing::WriteFile(*dir_, "AuthKey.p8", testing::PemP256()));
    vapid_key_ =
        new std::string(legwise::testing::WriteFile(*dir_, "vapid.pem", testing::PemP256()));
  }

  // Starts push_endpoints.py in `mode` on `port` with `script` (JSON) and waits until it listens.
  Endpoint Start(const std::string& mode, const std::string& script, std::vector<std::string> extra,
                 int port = FreePort()) {
    return testing::StartEndpoint({LEGWISE_PUSH_ENDPOINTS, *dir_, *certs_, 6, "push_endpoints_"},
                                  mode, script, extra, port);
  }

  Endpoint StartApns(const std::string& script = "{}") {
    return Start(
        "apns", script,
        {"--key-pem", *apns_key_, "--key-id", kKeyId, "--team-id", kTeamId, "--topic", kTopic});
  }

  // FCM: the credentials JSON names this server's own token endpoint.
  Endpoint StartFcm(const std::string& script = "{}", int token_ttl = 3600) {
    int port = FreePort();
    fcm_credentials_ = legwise::testing::WriteFile(*dir_, absl::StrCat("fcm-", port, ".json"),
                                                   testing::FcmServiceAccountJson(port));
    return Start("fcm", script,
                 {"--credentials", fcm_credentials_, "--token-ttl", absl::StrCat(token_ttl)}, port);
  }

  Endpoint StartWebPush(const std::string& script = "{}") {
    return Start("webpush", script, {"--vapid-public", VapidSigner(Vapid()).public_key()});
  }

  // The browser's subscriptions (PushSubscription.toJSON()), as the receiver made them.
  static std::vector<WebPushTarget> Subscriptions(const Endpoint& e) {
    std::string text = legwise::testing::ReadFileOrDie(e.subscriptions);
    Struct root = Json(absl::StrCat(R"({"s":)", text, "}"));
    std::vector<WebPushTarget> out;
    for (const auto& v : root.fields().at("s").list_value().values()) {
      const Struct& s = v.struct_value();
      out.push_back(WebPushTarget{Str(s, "endpoint"), Str(Obj(s, "keys"), "p256dh"),
                                  Str(Obj(s, "keys"), "auth")});
    }
    return out;
  }
  static std::string SubId(const WebPushTarget& t) {
    return t.endpoint.substr(t.endpoint.rfind('/') + 1);
  }

  static VapidCredentials Vapid() {
    return *LoadVapidCredentials(*vapid_key_, "mailto:ops@legwise.example");
  }

  SenderOptions Options() {
    SenderOptions o;
    o.ca_file = certs_->at("ca.pem");
    o.metrics = &metrics_;
    o.request_timeout = absl::Seconds(5);
    o.retry.initial_backoff = absl::Milliseconds(100);
    o.retry.max_backoff = absl::Seconds(2);
    return o;
  }
  SenderOptions WithApns(SenderOptions o, const Endpoint& production,
                         const Endpoint* development = nullptr) {
    ApnsOptions apns{*LoadApnsCredentials(*apns_key_, kKeyId, kTeamId), kTopic};
    apns.endpoint = production.base();
    apns.sandbox_endpoint = development != nullptr ? development->base() : production.base();
    o.apns = std::move(apns);
    return o;
  }
  SenderOptions WithFcm(SenderOptions o, const Endpoint& fcm) {
    FcmOptions f{*ParseFcmCredentials(legwise::testing::ReadFileOrDie(fcm_credentials_))};
    f.endpoint = fcm.base();
    o.fcm = std::move(f);
    return o;
  }
  SenderOptions WithWebPush(SenderOptions o) {
    o.vapid = Vapid();
    o.endpoint_policy.allow_insecure_loopback = true;
    return o;
  }

  static PushMessage Message(const std::string& nudge_id) {
    PushMessage m;
    m.nudge_id = nudge_id;
    m.kind = "NUDGE_KIND_STRETCHING";
    m.title = "Calf stretch";
    m.body = "Stand, hands on the wall, one leg back: 30 seconds each side.";
    m.due_time = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
    m.local_time = "2027-01-15T08:30:00+01:00";
    m.locale = "en";
    m.expire_time = m.due_time + absl::Hours(1);
    return m;
  }

  static void ExpectPayload(const Struct& payload, const PushMessage& m) {
    EXPECT_EQ(Str(payload, "nudge_id"), m.nudge_id);
    EXPECT_EQ(Str(payload, "kind"), m.kind);
    EXPECT_EQ(Str(payload, "title"), m.title);
    EXPECT_EQ(Str(payload, "body"), m.body);
    EXPECT_EQ(Str(payload, "due_time"),
              absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", m.due_time, absl::UTCTimeZone()));
    EXPECT_EQ(Str(payload, "local_time"), m.local_time);
    EXPECT_EQ(Str(payload, "locale"), m.locale);
  }

  double Outcomes(const std::string& provider, const std::string& outcome) {
    return metrics_.Value("legwise_push_outcomes_total",
                          {{"provider", provider}, {"outcome", outcome}});
  }

  static std::string* dir_;
  static std::map<std::string, std::string>* certs_;
  static std::string* apns_key_;
  static std::string* vapid_key_;
  std::string fcm_credentials_;
  Metrics metrics_;
  Results results_;
};

std::string* PushSenderTest::dir_ = nullptr;
std::map<std::string, std::string>* PushSenderTest::certs_ = nullptr;
std::string* PushSenderTest::apns_key_ = nullptr;
std::string* PushSenderTest::vapid_key_ = nullptr;

// --- APNs ----------------------------------------------------------------------------------------

TEST_F(PushSenderTest, ApnsDeliversWhatAppleAsksFor) {
  Endpoint production = StartApns();
  Endpoint development = StartApns();
  auto sender = *PushSender::Create(WithApns(Options(), production, &development));
  PushMessage m = Message("apns-ok");
  ASSERT_TRUE(sender->Submit({"d1", ApnsTarget{Token('a'), false}, m}, results_.For("prod")).ok());
  ASSERT_TRUE(sender
                  ->Submit({"d2", ApnsTarget{Token('b'), true}, Message("apns-sandbox")},
                           results_.For("sandbox"))
                  .ok());
  PushResult r = results_.Wait("prod");
  EXPECT_EQ(r.outcome, Outcome::kDelivered) << r.reason;
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(results_.Wait("sandbox").outcome, Outcome::kDelivered);

  std::vector<Struct> seen = production.For(Token('a'));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(Problems(seen[0]), std::vector<std::string>{});
  const Struct& headers = Obj(seen[0], "headers");
  EXPECT_EQ(Str(headers, "apns-push-type"), "alert");
  EXPECT_EQ(Str(headers, "apns-priority"), "5");
  EXPECT_EQ(Str(headers, "apns-topic"), kTopic);
  EXPECT_EQ(Str(headers, "apns-collapse-id"), CollapseId("apns-ok"));
  EXPECT_EQ(Str(headers, "apns-expiration"), absl::StrCat(absl::ToUnixSeconds(m.expire_time)));
  EXPECT_EQ(Str(Obj(Obj(seen[0], "payload"), "aps"), "interruption-level"), "passive");
  ExpectPayload(Obj(seen[0], "payload"), m);
  // The sandbox device went to the development host only.
  EXPECT_EQ(development.For(Token('b')).size(), 1u);
  EXPECT_EQ(production.For(Token('b')).size(), 0u);
  EXPECT_EQ(Outcomes("apns", "delivered"), 2);
}

TEST_F(PushSenderTest, ApnsMultiplexesConnectionsAndReusesOneProviderToken) {
  Endpoint apns = StartApns();
  auto sender = *PushSender::Create(WithApns(Options(), apns));
  constexpr int kPushes = 200;
  for (int i = 0; i < kPushes; ++i) {
    std::string token = absl::StrFormat("%064x", i + 1);
    ASSERT_TRUE(sender
                    ->Submit({"d", ApnsTarget{token, false}, Message(absl::StrCat("n", i))},
                             results_.For(absl::StrCat(i)))
                    .ok());
  }
  for (int i = 0; i < kPushes; ++i)
    EXPECT_EQ(results_.Wait(absl::StrCat(i)).outcome, Outcome::kDelivered);
  std::set<std::string> tokens;
  std::map<double, int> per_connection;
  for (const Struct& s : apns.Requests("apns")) {
    EXPECT_EQ(Problems(s), std::vector<std::string>{});
    tokens.insert(Str(s, "jwt_sha"));
    ++per_connection[Num(s, "connection")];
  }
  EXPECT_EQ(tokens.size(), 1u) << "the provider token must be reused, not minted per push";
  // HTTP/2 multiplexing: up to 100 streams per connection (the default), at most 4 connections.
  EXPECT_LE(per_connection.size(), 4u);
  int busiest = 0;
  for (const auto& [connection, requests] : per_connection) busiest = std::max(busiest, requests);
  EXPECT_GE(busiest, 50) << "pushes were not multiplexed";
  EXPECT_EQ(metrics_.Value("legwise_push_credential_refreshes_total",
                           {{"provider", "apns"}, {"result", "ok"}}),
            1);
}

// Several loop threads (--push_loop_threads): every push delivered exactly once, each loop with
// its own connections, and one APNs provider token for all of them (Apple answers
// TooManyProviderTokenUpdates to a provider that changes tokens too often), not one per loop.
TEST_F(PushSenderTest, SeveralLoopThreadsDeliverEachPushOnce) {
  Endpoint apns = StartApns();
  SenderOptions o = WithApns(Options(), apns);
  o.loop_threads = 3;
  auto sender = *PushSender::Create(o);
  constexpr int kPushes = 150;
  for (int i = 0; i < kPushes; ++i) {
    std::string token = absl::StrFormat("%064x", i + 1);
    ASSERT_TRUE(sender
                    ->Submit({absl::StrCat("d", i), ApnsTarget{token, false},
                              Message(absl::StrCat("n", i))},
                             results_.For(absl::StrCat(i)))
                    .ok());
  }
  for (int i = 0; i < kPushes; ++i) {
    EXPECT_EQ(results_.Wait(absl::StrCat(i)).outcome, Outcome::kDelivered);
  }
  std::set<std::string> tokens;
  for (int i = 0; i < kPushes; ++i) {
    EXPECT_EQ(apns.For(absl::StrFormat("%064x", i + 1)).size(), 1u) << i;
  }
  for (const Struct& s : apns.Requests("apns")) {
    EXPECT_EQ(Problems(s), std::vector<std::string>{});
    tokens.insert(Str(s, "jwt_sha"));
  }
  EXPECT_EQ(tokens.size(), 1u) << "one provider token for every loop";
  EXPECT_EQ(metrics_.Value("legwise_push_credential_refreshes_total",
                           {{"provider", "apns"}, {"result", "ok"}}),
            1);
  EXPECT_EQ(Outcomes("apns", "delivered"), kPushes);
  EXPECT_EQ(sender->pending(), 0);
  o.loop_threads = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(PushSender::Create(o).status()));
}

TEST_F(PushSenderTest, ApnsUnregisteredDevicesAreForgottenAfterOneTry) {
  Endpoint apns =
      StartApns(absl::StrCat(R"({")", Token('c'), R"(":[{"status":410}],")", Token('d'),
                             R"(":[{"status":400,"reason":"BadDeviceToken"}],")", Token('e'),
                             R"(":[{"status":403,"reason":"InvalidProviderToken"}]})"));
  auto sender = *PushSender::Create(WithApns(Options(), apns));
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('c'), false}, Message("g1")}, results_.For("410"))
          .ok());
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('d'), false}, Message("g2")}, results_.For("400"))
          .ok());
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('e'), false}, Message("g3")}, results_.For("403"))
          .ok());
  PushResult gone = results_.Wait("410");
  EXPECT_EQ(gone.outcome, Outcome::kUnregistered);
  EXPECT_EQ(gone.reason, "Unregistered");
  EXPECT_EQ(gone.attempts, 1);
  EXPECT_EQ(results_.Wait("400").outcome, Outcome::kUnregistered);
  PushResult refused = results_.Wait("403");
  EXPECT_EQ(refused.outcome, Outcome::kRejected);
  EXPECT_EQ(refused.reason, "InvalidProviderToken");
  EXPECT_EQ(apns.For(Token('c')).size(), 1u);
  EXPECT_EQ(apns.For(Token('d')).size(), 1u);
  EXPECT_EQ(Outcomes("apns", "unregistered"), 2);
  EXPECT_EQ(Outcomes("apns", "rejected"), 1);
}

TEST_F(PushSenderTest, ApnsRetriesHonourRetryAfterAndKeepTheCollapseId) {
  Endpoint apns =
      StartApns(absl::StrCat(R"({")", Token('f'), R"(":[{"status":429,"retry_after":"1"}],")",
                             Token('1'), R"(":[{"status":500},{"status":503}]})"));
  auto sender = *PushSender::Create(WithApns(Options(), apns));
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('f'), false}, Message("r1")}, results_.For("429"))
          .ok());
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('1'), false}, Message("r2")}, results_.For("5xx"))
          .ok());
  PushResult r = results_.Wait("429");
  EXPECT_EQ(r.outcome, Outcome::kDelivered);
  EXPECT_EQ(r.attempts, 2);
  std::vector<Struct> seen = apns.For(Token('f'));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_GE(Num(seen[1], "t") - Num(seen[0], "t"), 0.95) << "retried before Retry-After";
  EXPECT_EQ(Str(Obj(seen[0], "headers"), "apns-collapse-id"),
            Str(Obj(seen[1], "headers"), "apns-collapse-id"));
  PushResult five = results_.Wait("5xx");
  EXPECT_EQ(five.outcome, Outcome::kDelivered);
  EXPECT_EQ(five.attempts, 3);
  EXPECT_EQ(metrics_.Value("legwise_push_retries_total",
                           {{"provider", "apns"}, {"reason", "TooManyRequests"}}),
            1);
}

TEST_F(PushSenderTest, ApnsSlowAnswerTimesOutAndIsRetriedUnderTheSameCollapseId) {
  Endpoint apns = StartApns(absl::StrCat(R"({")", Token('2'), R"(":[{"status":200,"delay":3}]})"));
  SenderOptions o = WithApns(Options(), apns);
  o.request_timeout = absl::Milliseconds(800);
  auto sender = *PushSender::Create(std::move(o));
  absl::Time start = absl::Now();
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('2'), false}, Message("slow")}, results_.For("slow"))
          .ok());
  PushResult r = results_.Wait("slow");
  EXPECT_EQ(r.outcome, Outcome::kDelivered);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3)) << "the deadline did not cut the slow request";
  std::vector<Struct> seen = apns.For(Token('2'));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(Str(Obj(seen[0], "headers"), "apns-collapse-id"),
            Str(Obj(seen[1], "headers"), "apns-collapse-id"));
  EXPECT_EQ(
      metrics_.Value("legwise_push_retries_total", {{"provider", "apns"}, {"reason", "timeout"}}),
      1);
}

TEST_F(PushSenderTest, PastItsUsefulnessIsDroppedNotSentLate) {
  Endpoint apns =
      StartApns(absl::StrCat(R"({")", Token('3'), R"(":[{"status":429,"retry_after":"30"}]})"));
  auto sender = *PushSender::Create(WithApns(Options(), apns));
  PushMessage expired = Message("late");
  expired.expire_time = absl::Now() - absl::Seconds(1);
  PushMessage quiet = Message("quiet");
  quiet.quiet_hours_start = absl::Now() - absl::Seconds(1);
  PushMessage short_ttl = Message("short");
  short_ttl.expire_time = absl::Now() + absl::Seconds(5);  // Retry-After 30 s would land after it
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('4'), false}, expired}, results_.For("late")).ok());
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('5'), false}, quiet}, results_.For("quiet")).ok());
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('3'), false}, short_ttl}, results_.For("short")).ok());
  EXPECT_EQ(results_.Wait("late").outcome, Outcome::kExpired);
  EXPECT_EQ(results_.Wait("quiet").outcome, Outcome::kQuietHours);
  PushResult r = results_.Wait("short", absl::Seconds(10));
  EXPECT_EQ(r.outcome, Outcome::kExpired);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_TRUE(apns.For(Token('4')).empty());
  EXPECT_TRUE(apns.For(Token('5')).empty());
  EXPECT_EQ(Outcomes("apns", "expired"), 2);
  EXPECT_EQ(Outcomes("apns", "quiet_hours"), 1);
}

// --- FCM -----------------------------------------------------------------------------------------

TEST_F(PushSenderTest, FcmGrantsATokenOnceAndSendsWhatGoogleAsksFor) {
  Endpoint fcm = StartFcm();
  auto sender = *PushSender::Create(WithFcm(Options(), fcm));
  std::string token = "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH";
  PushMessage m = Message("fcm-ok");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(sender
                    ->Submit({"d", FcmTarget{absl::StrCat(token, i)},
                              i == 0 ? m : Message(absl::StrCat("f", i))},
                             results_.For(absl::StrCat(i)))
                    .ok());
  }
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(results_.Wait(absl::StrCat(i)).outcome, Outcome::kDelivered);
  std::vector<Struct> grants = fcm.Requests("fcm_token");
  ASSERT_EQ(grants.size(), 1u) << "the access token must be cached";
  EXPECT_EQ(Num(grants[0], "status"), 200);
  EXPECT_EQ(Problems(grants[0]), std::vector<std::string>{});
  std::vector<Struct> sent = fcm.For(token + "0");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(Problems(sent[0]), std::vector<std::string>{});
  ExpectPayload(Obj(sent[0], "payload"), m);
  const Struct& android = Obj(sent[0], "android");
  EXPECT_EQ(Str(android, "priority"), "NORMAL");
  EXPECT_EQ(Str(android, "collapse_key"), CollapseId("fcm-ok"));
  EXPECT_TRUE(absl::EndsWith(Str(android, "ttl"), "s"));
  EXPECT_EQ(metrics_.Value("legwise_push_credential_refreshes_total",
                           {{"provider", "fcm"}, {"result", "ok"}}),
            1);
}

TEST_F(PushSenderTest, FcmOutcomesAndAnExpiredAccessToken) {
  std::string gone = "gone-token-abcdefghijklmnop";
  std::string busy = "busy-token-abcdefghijklmnop";
  Endpoint fcm =
      StartFcm(absl::StrCat(R"({"__token__":[{"status":500}],")", gone, R"(":[{"status":404}],")",
                            busy, R"(":[{"status":429,"retry_after":"1"}]})"),
               /*token_ttl=*/3);
  auto sender = *PushSender::Create(WithFcm(Options(), fcm));
  ASSERT_TRUE(sender->Submit({"d", FcmTarget{gone}, Message("x1")}, results_.For("gone")).ok());
  ASSERT_TRUE(sender->Submit({"d", FcmTarget{busy}, Message("x2")}, results_.For("busy")).ok());
  // The first grant failed (500): both waited for the second, then went out.
  PushResult g = results_.Wait("gone");
  EXPECT_EQ(g.outcome, Outcome::kUnregistered);
  EXPECT_EQ(g.reason, "UNREGISTERED");
  PushResult b = results_.Wait("busy");
  EXPECT_EQ(b.outcome, Outcome::kDelivered);
  std::vector<Struct> busy_sent = fcm.For(busy);
  ASSERT_EQ(busy_sent.size(), 2u);
  EXPECT_GE(Num(busy_sent[1], "t") - Num(busy_sent[0], "t"), 0.95);
  EXPECT_EQ(Str(Obj(busy_sent[0], "android"), "collapse_key"),
            Str(Obj(busy_sent[1], "android"), "collapse_key"));
  EXPECT_EQ(fcm.Requests("fcm_token").size(), 2u);
  // Past the 3-second token lifetime a new one is granted before the next send.
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(sender
                  ->Submit({"d", FcmTarget{"fresh-token-abcdefghijklmnop"}, Message("x3")},
                           results_.For("fresh"))
                  .ok());
  EXPECT_EQ(results_.Wait("fresh").outcome, Outcome::kDelivered);
  EXPECT_EQ(fcm.Requests("fcm_token").size(), 3u);
  for (const Struct& s : fcm.Requests("fcm_send"))
    EXPECT_NE(Num(s, "status"), 401) << "sent with an expired token";
}

// --- Web Push ------------------------------------------------------------------------------------

TEST_F(PushSenderTest, WebPushIsDecryptedAndItsVapidVerifiedByAnIndependentReceiver) {
  Endpoint web = StartWebPush();
  auto sender = *PushSender::Create(WithWebPush(Options()));
  std::vector<WebPushTarget> subs = Subscriptions(web);
  ASSERT_GE(subs.size(), 3u);
  PushMessage m = Message("web-ok");
  m.title = "Hora de beber agua \xf0\x9f\x92\xa7";  // non-ASCII survives encryption
  m.locale = "es";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(sender
                    ->Submit({"d", subs[i], i == 0 ? m : Message(absl::StrCat("w", i))},
                             results_.For(absl::StrCat(i)))
                    .ok());
  }
  for (int i = 0; i < 3; ++i) {
    PushResult r = results_.Wait(absl::StrCat(i));
    EXPECT_EQ(r.outcome, Outcome::kDelivered) << r.reason;
    EXPECT_EQ(r.http_status, 201);
  }
  std::vector<Struct> seen = web.For(SubId(subs[0]));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(Problems(seen[0]), std::vector<std::string>{});
  ExpectPayload(Obj(seen[0], "payload"), m);
  const Struct& headers = Obj(seen[0], "headers");
  EXPECT_EQ(Str(headers, "urgency"), "normal");
  EXPECT_EQ(Str(headers, "topic"), CollapseId("web-ok"));
  EXPECT_EQ(Str(headers, "content-encoding"), "aes128gcm");
  int ttl = std::stoi(Str(headers, "ttl"));
  EXPECT_GT(ttl, 3500);
  EXPECT_LE(ttl, 3600);
}

TEST_F(PushSenderTest, WebPushGoneRetriedAndRedirectedSubscriptions) {
  Endpoint web =
      StartWebPush(R"({"sub0":[{"status":410}],"sub1":[{"status":429,"retry_after":"1"}],)"
                   R"("sub2":[{"status":301,"location":"http://127.0.0.1:1/push/sub3"}],)"
                   R"("sub4":[{"status":500}]})");
  auto sender = *PushSender::Create(WithWebPush(Options()));
  std::vector<WebPushTarget> subs = Subscriptions(web);
  WebPushTarget unknown = subs[5];
  unknown.endpoint = unknown.endpoint.substr(0, unknown.endpoint.rfind('/') + 1) + "expired-sub";
  const std::pair<std::string, WebPushTarget> jobs[] = {
      {"410", subs[0]}, {"429", subs[1]}, {"301", subs[2]}, {"500", subs[4]}, {"404", unknown}};
  for (const auto& [id, target] : jobs) {
    ASSERT_TRUE(sender->Submit({"d", target, Message("web-" + id)}, results_.For(id)).ok());
  }
  EXPECT_EQ(results_.Wait("410").outcome, Outcome::kUnregistered);
  EXPECT_EQ(results_.Wait("404").outcome, Outcome::kUnregistered);
  PushResult redirected = results_.Wait("301");
  EXPECT_EQ(redirected.outcome, Outcome::kRejected);
  EXPECT_EQ(redirected.reason, "http_301");
  EXPECT_TRUE(web.For("sub3").empty()) << "a redirect was followed";
  PushResult busy = results_.Wait("429");
  EXPECT_EQ(busy.outcome, Outcome::kDelivered);
  EXPECT_EQ(busy.attempts, 2);
  std::vector<Struct> seen = web.For("sub1");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_GE(Num(seen[1], "t") - Num(seen[0], "t"), 0.95);
  EXPECT_EQ(Str(Obj(seen[0], "headers"), "topic"), Str(Obj(seen[1], "headers"), "topic"));
  EXPECT_EQ(results_.Wait("500").outcome, Outcome::kDelivered);
  for (const Struct& s : web.Requests()) EXPECT_EQ(Problems(s), std::vector<std::string>{});
  EXPECT_EQ(Outcomes("web_push", "unregistered"), 2);
}

// An endpoint that passes the URL checks but resolves to an internal address is refused when the
// socket would be opened (no connection is made), whatever DNS said.
TEST_F(PushSenderTest, WebPushNamesResolvingToInternalAddressesAreRefusedAtConnect) {
  SenderOptions o = WithWebPush(Options());
  o.endpoint_policy.allow_insecure_loopback = false;
  o.resolve = {"push.rebind.example:443:127.0.0.1", "metadata.rebind.example:443:169.254.169.254",
               "six.rebind.example:443:[::1]", "private.rebind.example:443:10.0.0.8"};
  auto sender = *PushSender::Create(std::move(o));
  std::string p256dh =
      "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
  for (const std::string host : {"push", "metadata", "six", "private"}) {
    WebPushTarget t{absl::StrCat("https://", host, ".rebind.example/push/x"), p256dh,
                    "BTBZMqHH6r4Tts7J_aSIgg"};
    ASSERT_TRUE(sender->Submit({"d", t, Message(host)}, results_.For(host)).ok());
  }
  for (const std::string host : {"push", "metadata", "six", "private"}) {
    PushResult r = results_.Wait(host);
    EXPECT_EQ(r.outcome, Outcome::kRejected) << host;
    EXPECT_EQ(r.reason, "address_refused") << host;
  }
  // And an http endpoint is refused at Submit without the development flag.
  absl::Status s = sender->Submit(
      {"d", WebPushTarget{"http://127.0.0.1:9/push/x", p256dh, "BTBZMqHH6r4Tts7J_aSIgg"},
       Message("h")},
      results_.For("http"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetFieldViolations(s).at(0).field, "device.web_push.endpoint");
}

// The loopback providers' checks are real: a token signed with another key is refused, by APNs'
// stand-in (403 InvalidProviderToken) and by the Web Push receiver (VAPID k is not the key the
// subscription was made with, 403), so the deliveries above prove our signatures verify.
TEST_F(PushSenderTest, TheLoopbackProvidersRefuseSignaturesFromOtherKeys) {
  Endpoint apns = StartApns();
  Endpoint web = StartWebPush();
  SenderOptions o = WithWebPush(WithApns(Options(), apns));
  std::string other_key = legwise::testing::WriteFile(*dir_, "other.p8", testing::PemP256());
  o.apns->credentials = *LoadApnsCredentials(other_key, kKeyId, kTeamId);
  o.vapid = *LoadVapidCredentials(other_key, "mailto:ops@legwise.example");
  auto sender = *PushSender::Create(std::move(o));
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('a'), false}, Message("k1")}, results_.For("apns"))
          .ok());
  ASSERT_TRUE(
      sender->Submit({"d", Subscriptions(web)[0], Message("k2")}, results_.For("web")).ok());
  PushResult a = results_.Wait("apns");
  EXPECT_EQ(a.outcome, Outcome::kRejected);
  EXPECT_EQ(a.reason, "InvalidProviderToken");
  PushResult w = results_.Wait("web");
  EXPECT_EQ(w.outcome, Outcome::kRejected);
  EXPECT_EQ(w.http_status, 403);
}

// --- The sender itself ---------------------------------------------------------------------------

TEST_F(PushSenderTest, RefusesAtOnceWhatItCannotTake) {
  Endpoint apns = StartApns(absl::StrCat(R"({")", Token('6'), R"(":[{"delay":5},{"delay":5}],")",
                                         Token('7'), R"(":[{"delay":5}]})"));
  SenderOptions o = WithApns(Options(), apns);
  o.max_pending = 2;
  auto sender = *PushSender::Create(std::move(o));
  absl::Status bad =
      sender->Submit({"d", ApnsTarget{"nothex", false}, Message("b")}, results_.For("bad"));
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetFieldViolations(bad).at(0).field, "device.apns.device_token");
  PushMessage no_title = Message("t");
  no_title.title.clear();
  EXPECT_EQ(
      sender->Submit({"d", ApnsTarget{Token('a'), false}, no_title}, results_.For("t")).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      sender
          ->Submit({"d", FcmTarget{"fcm-token-abcdefghijklmnop"}, Message("f")}, results_.For("f"))
          .code(),
      absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('6'), false}, Message("s1")}, results_.For("s1")).ok());
  ASSERT_TRUE(
      sender->Submit({"d", ApnsTarget{Token('7'), false}, Message("s2")}, results_.For("s2")).ok());
  EXPECT_EQ(sender->Submit({"d", ApnsTarget{Token('8'), false}, Message("s3")}, results_.For("s3"))
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sender->pending(), 2);
  // Shutdown: in-flight requests get the grace, then are handed back as aborted (not final).
  absl::Time start = absl::Now();
  sender->Shutdown(absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(results_.Wait("s1").outcome, Outcome::kAborted);
  EXPECT_EQ(results_.Wait("s2").outcome, Outcome::kAborted);
  EXPECT_FALSE(IsFinal(Outcome::kAborted));
  EXPECT_EQ(sender->pending(), 0);
  EXPECT_EQ(
      sender->Submit({"d", ApnsTarget{Token('9'), false}, Message("late")}, results_.For("late"))
          .code(),
      absl::StatusCode::kUnavailable);
}

// No device token, endpoint, subscription key or nudge text in any line the sender logs, across
// every provider and failure; the log is kept in the suite's log directory for the log scan.
TEST_F(PushSenderTest, LogsCarryNoTokensEndpointsOrNudgeText) {
  Endpoint apns = StartApns(absl::StrCat(R"({")", Token('a'), R"(":[{"status":410}],")", Token('b'),
                                         R"(":[{"status":413,"reason":"PayloadTooLarge"}]})"));
  std::string fcm_token = "secretfcmtoken-abcdefghijklmnop";
  Endpoint fcm = StartFcm(absl::StrCat(R"({")", fcm_token, R"(":[{"status":404}]})"));
  Endpoint web = StartWebPush(R"({"sub0":[{"status":410}],"sub1":[{"status":400}]})");
  std::string log_path = absl::StrCat(LogDir(), "/push_sender_test.log");
  fflush(stderr);
  int saved = dup(2);
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  dup2(fd, 2);
  close(fd);
  {
    SenderOptions o = WithWebPush(WithFcm(WithApns(Options(), apns), fcm));
    auto sender = *PushSender::Create(std::move(o));
    std::vector<WebPushTarget> subs = Subscriptions(web);
    PushMessage m = Message("secret-nudge-id");
    m.title = "SecretTitle";
    m.body = "SecretBody";
    ASSERT_TRUE(sender->Submit({"d", ApnsTarget{Token('a'), false}, m}, results_.For("a")).ok());
    ASSERT_TRUE(sender->Submit({"d", ApnsTarget{Token('b'), true}, m}, results_.For("b")).ok());
    ASSERT_TRUE(sender->Submit({"d", FcmTarget{fcm_token}, m}, results_.For("f")).ok());
    ASSERT_TRUE(sender->Submit({"d", subs[0], m}, results_.For("w0")).ok());
    ASSERT_TRUE(sender->Submit({"d", subs[1], m}, results_.For("w1")).ok());
    for (const char* id : {"a", "b", "f", "w0", "w1"})
      EXPECT_NE(results_.Wait(id).outcome, Outcome::kDelivered);
    sender->Shutdown(absl::Seconds(1));
    std::string log = legwise::testing::ReadFileOrDie(log_path);
    for (const std::string& secret :
         {Token('a'), Token('b'), fcm_token, subs[0].endpoint, subs[0].p256dh, subs[0].auth,
          std::string("sub0"), absl::StrCat("127.0.0.1:", web.port),
          absl::StrCat("127.0.0.1:", apns.port), absl::StrCat("127.0.0.1:", fcm.port),
          std::string("secret"), std::string("Secret"), std::string("eyJ"), std::string("ya29")}) {
      EXPECT_EQ(log.find(secret), std::string::npos) << "leaked into the log: " << secret;
    }
    EXPECT_TRUE(absl::StrContains(log, "push_not_delivered")) << log;
  }
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
}

}  // namespace
}  // namespace legwise::push
