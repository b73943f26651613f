// legwise-gateway against the real services: legwise-content, legwise-triage and legwise-reminder
// (in-memory store) with JWT authentication on, called over HTTP/1.1 with libcurl. Checks the
// transcoded answers against the same RPCs called directly over gRPC, the google.rpc.Status errors
// and their AIP-193 HTTP codes, that the caller's authorization reaches the backends, CORS, the
// bounds, the SSE stream's framing, health on the probe port and graceful shutdown.
#include <sys/wait.h>

#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "tests/gateway/http_client.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise {
namespace {

using testing::HttpAnswer;
using testing::HttpClient;
using testing::ServiceProcess;

constexpr char kIss[] = "https://auth.legwise.test";
constexpr char kAud[] = "legwise-api";
constexpr char kAllowedOrigin[] = "http://app.legwise.test:8000";

class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::TempDir("legwise-gateway-"));
    key_ = testing::SigningKey::Ec("gw-key").release();
    std::string jwks = testing::WriteFile(*dir_, "jwks.json", testing::Jwks({key_}));
    std::vector<std::string> auth = {"--jwks_file=" + jwks, std::string("--jwt_issuer=") + kIss,
                                     std::string("--jwt_audience=") + kAud};
    auto with = [&](std::vector<std::string> extra) {
      extra.insert(extra.end(), auth.begin(), auth.end());
      return extra;
    };
    content_ = new ServiceProcess("legwise-content", with({"--redis_addr=127.0.0.1:1"}));
    ASSERT_TRUE(content_->Start().ok()) << content_->log_path();
    triage_ = new ServiceProcess("legwise-triage", with({"--content_addr=" + content_->address()}));
    ASSERT_TRUE(triage_->Start().ok()) << triage_->log_path();
    reminder_ = new ServiceProcess(
        "legwise-reminder", with({"--memory_store", "--content_addr=" + content_->address()}));
    ASSERT_TRUE(reminder_->Start().ok()) << reminder_->log_path();
    probe_port_ = testing::FreePort();
    gateway_ = new ServiceProcess(
        "legwise-gateway",
        {"--triage_addr=" + triage_->address(), "--content_addr=" + content_->address(),
         "--reminder_addr=" + reminder_->address(), absl::StrCat("--probe_port=", probe_port_),
         std::string("--cors_allowed_origins=") + kAllowedOrigin, "--http_max_body_bytes=4096",
         "--sse_heartbeat=200ms", "--max_sse_streams=2", "--rate_limit_per_second=0"});
    ASSERT_TRUE(gateway_->Start().ok()) << gateway_->log_path();
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete reminder_;
    delete triage_;
    delete content_;
    delete key_;
  }

  static std::string Bearer(const std::string& sub, const std::string& scope = "") {
    return "Authorization: Bearer " +
           key_->Sign(testing::Claims(kIss, kAud, sub, absl::Hours(1), scope));
  }
  static std::string ServiceBearer() { return Bearer("ehr-1", "legwise.service"); }

  static google::rpc::Status ParseStatus(const HttpAnswer& a) {
    // The detail types must be linked in for their Any values to parse.
    (void)google::rpc::BadRequest::descriptor();
    (void)google::rpc::ErrorInfo::descriptor();
    google::rpc::Status s;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &s).ok()) << a.body;
    return s;
  }

  static std::string* dir_;
  static testing::SigningKey* key_;
  static ServiceProcess* content_;
  static ServiceProcess* triage_;
  static ServiceProcess* reminder_;
  static ServiceProcess* gateway_;
  static int probe_port_;
};
std::string* GatewayTest::dir_ = nullptr;
testing::SigningKey* GatewayTest::key_ = nullptr;
ServiceProcess* GatewayTest::content_ = nullptr;
ServiceProcess* GatewayTest::triage_ = nullptr;
ServiceProcess* GatewayTest::reminder_ = nullptr;
ServiceProcess* GatewayTest::gateway_ = nullptr;
int GatewayTest::probe_port_ = 0;

const char kAssessJson[] = R"({
  "requestId": "gw-test-1",
  "pregnancy": {"gestationalAgeWeeks": 30},
  "symptoms": [{"kind": "SYMPTOM_KIND_MUSCLE_CRAMP", "side": "SIDE_LEFT", "site": "BODY_SITE_CALF"},
               {"kind": "SYMPTOM_KIND_CHEST_PAIN"}],
  "locale": "es"
})";

TEST_F(GatewayTest, AssessOverHttpAnswersWhatGrpcAnswers) {
  HttpClient http(gateway_->port());
  HttpAnswer a = http.Call("POST", "/v1/triage:assess", kAssessJson,
                           {"Content-Type: application/json", ServiceBearer()});
  ASSERT_EQ(a.status, 200) << a.body << a.error;
  EXPECT_TRUE(absl::StartsWith(a.Header("content-type"), "application/json"));
  triage::v1::AssessLegSymptomsResponse via_http;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &via_http).ok()) << a.body;

  triage::v1::AssessLegSymptomsRequest request;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(kAssessJson, &request).ok());
  auto stub = triage::v1::TriageService::NewStub(triage_->channel());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", ServiceBearer().substr(strlen("Authorization: ")));
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  triage::v1::AssessLegSymptomsResponse via_grpc;
  ASSERT_TRUE(stub->AssessLegSymptoms(&ctx, request, &via_grpc).ok());
  EXPECT_EQ(via_http.urgency(), triage::v1::URGENCY_EMERGENCY);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(via_http, via_grpc))
      << via_http.DebugString() << "\nvs\n"
      << via_grpc.DebugString();
  EXPECT_EQ(via_http.locale(), "es");
  // Field names are proto3 JSON (lowerCamelCase) and enums print by name.
  EXPECT_TRUE(absl::StrContains(a.body, "\"ruleSetVersion\"")) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, "\"URGENCY_EMERGENCY\"")) << a.body;
  // Fields at their default value are left out (proto3 JSON allows it; JsonDefaults::kOmit): this
  // request asks for no guidance, so guidanceDegraded is false and not printed, and the answer
  // above still parsed back into exactly what gRPC answers.
  ASSERT_FALSE(via_grpc.guidance_degraded());
  ASSERT_EQ(via_grpc.guidance_size(), 0);
  EXPECT_FALSE(absl::StrContains(a.body, "\"guidanceDegraded\"")) << a.body;
  EXPECT_FALSE(absl::StrContains(a.body, "\"guidance\"")) << a.body;
}

TEST_F(GatewayTest, KeepAliveConnectionServesManyCalls) {
  HttpClient http(gateway_->port());
  for (int i = 0; i < 20; ++i) {
    HttpAnswer a = http.Call("POST", "/v1/triage:assess", kAssessJson,
                             {"Content-Type: application/json", ServiceBearer()});
    ASSERT_EQ(a.status, 200) << i << a.body;
    EXPECT_NE(a.Header("connection"), "close");
  }
}

TEST_F(GatewayTest, BadInputIsStatusJsonWithFieldViolations) {
  HttpClient http(gateway_->port());
  HttpAnswer a = http.Call("POST", "/v1/triage:assess", R"({"symptoms": []})",
                           {"Content-Type: application/json", ServiceBearer()});
  ASSERT_EQ(a.status, 400) << a.body;
  google::rpc::Status s = ParseStatus(a);
  EXPECT_EQ(s.code(), 3);  // INVALID_ARGUMENT
  bool bad_request = false;
  for (const auto& d : s.details()) {
    google::rpc::BadRequest br;
    if (d.UnpackTo(&br) && br.field_violations_size() > 0 &&
        br.field_violations(0).field() == "symptoms") {
      bad_request = true;
    }
  }
  EXPECT_TRUE(bad_request) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, "symptoms")) << a.body;
}

TEST_F(GatewayTest, MalformedJsonAndUnknownFieldsAreRefusedNamingThem) {
  HttpClient http(gateway_->port());
  HttpAnswer a = http.Call("POST", "/v1/triage:assess", R"({"symptomz": []})",
                           {"Content-Type: application/json", ServiceBearer()});
  ASSERT_EQ(a.status, 400);
  EXPECT_EQ(ParseStatus(a).code(), 3);
  EXPECT_TRUE(absl::StrContains(ParseStatus(a).message(), "symptomz")) << a.body;
  a = http.Call("POST", "/v1/triage:assess", "{not json",
                {"Content-Type: application/json", ServiceBearer()});
  EXPECT_EQ(a.status, 400);
  a = http.Call("POST", "/v1/triage:assess", kAssessJson,
                {"Content-Type: text/plain", ServiceBearer()});
  EXPECT_EQ(a.status, 415);
  a = http.Call("GET", "/v1/ruleSet?nonsense=1", "", {ServiceBearer()});
  EXPECT_EQ(a.status, 400);
  EXPECT_TRUE(absl::StrContains(ParseStatus(a).message(), "nonsense")) << a.body;
}

TEST_F(GatewayTest, BodyLargerThanTheLimitIsRefusedUnread) {
  HttpClient http(gateway_->port());
  std::string big = absl::StrCat(R"({"requestId": ")", std::string(8000, 'x'), R"("})");
  HttpAnswer a = http.Call("POST", "/v1/triage:assess", big,
                           {"Content-Type: application/json", ServiceBearer()});
  EXPECT_EQ(a.status, 413) << a.body;
  EXPECT_EQ(ParseStatus(a).code(), 8);  // RESOURCE_EXHAUSTED
}

TEST_F(GatewayTest, OversizedHeadersAreRefused) {
  HttpClient http(gateway_->port());
  HttpAnswer a = http.Call("GET", "/v1/ruleSet", "",
                           {ServiceBearer(), "X-Filler: " + std::string(40000, 'y')});
  EXPECT_TRUE(a.status == 413 || a.status == 431 || a.status == 400 || a.status == 0) << a.status;
  EXPECT_NE(a.status, 200);
}

TEST_F(GatewayTest, AuthorizationIsForwardedToTheBackends) {
  HttpClient http(gateway_->port());
  // No token: the backend says UNAUTHENTICATED, which is 401.
  HttpAnswer a = http.Call("GET", "/v1/ruleSet");
  EXPECT_EQ(a.status, 401) << a.body;
  EXPECT_EQ(ParseStatus(a).code(), 16);
  // A user's plan, through the gateway, with her own token.
  const std::string plan_json = R"({"plan": {"timeZone": "Europe/Madrid",
      "wakeTime": {"hours": 7}, "sleepTime": {"hours": 22},
      "kinds": ["NUDGE_KIND_HYDRATION", "NUDGE_KIND_STRETCHING"]}, "requestId": "gw-plan-1"})";
  a = http.Call("POST", "/v1/users/ana/reminderPlan", plan_json,
                {"Content-Type: application/json", Bearer("ana")});
  ASSERT_EQ(a.status, 200) << a.body;
  reminder::v1::CreateReminderPlanResponse created;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &created).ok());
  EXPECT_EQ(created.plan().user_id(), "ana");  // from the URL path
  a = http.Call("GET", "/v1/users/ana/reminderPlan", "", {Bearer("ana")});
  ASSERT_EQ(a.status, 200) << a.body;
  // Another user's token: the reminder service refuses her, 403.
  a = http.Call("GET", "/v1/users/ana/reminderPlan", "", {Bearer("bea")});
  EXPECT_EQ(a.status, 403) << a.body;
  EXPECT_EQ(ParseStatus(a).code(), 7);
  // Her own, missing plan: 404.
  a = http.Call("GET", "/v1/users/bea/reminderPlan", "", {Bearer("bea")});
  EXPECT_EQ(a.status, 404) << a.body;
  // Creating it twice with another request id: ALREADY_EXISTS, 409.
  std::string again = plan_json;
  again.replace(again.find("gw-plan-1"), 9, "gw-plan-2");
  a = http.Call("POST", "/v1/users/ana/reminderPlan", again,
                {"Content-Type: application/json", Bearer("ana")});
  EXPECT_EQ(a.status, 409) << a.body;
  // The body naming another user than the path is a contradiction, not a choice.
  a = http.Call("POST", "/v1/users/ana/reminderPlan",
                R"({"plan": {"userId": "bea", "timeZone": "Europe/Madrid"}})",
                {"Content-Type: application/json", Bearer("ana")});
  EXPECT_EQ(a.status, 400) << a.body;
}

// Issue 16: the device RPCs transcoded from their google.api.http annotations, the body being the
// Device (as a browser's PushSubscription.toJSON() gives endpoint and keys), user_id from the path.
TEST_F(GatewayTest, DevicesOverHttp) {
  HttpClient http(gateway_->port());
  const std::string device_json = R"({"webPush": {"endpoint": "https://push.example.com/s/1",
      "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
      "auth": "BTBZMqHH6r4Tts7J_aSIgg"}, "locale": "en"})";
  HttpAnswer a = http.Call("POST", "/v1/users/ana/devices", device_json,
                           {"Content-Type: application/json", Bearer("ana")});
  ASSERT_EQ(a.status, 200) << a.body;
  reminder::v1::RegisterDeviceResponse reg;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &reg).ok()) << a.body;
  ASSERT_FALSE(reg.device().device_id().empty());
  a = http.Call("GET", "/v1/users/ana/devices", "", {Bearer("ana")});
  ASSERT_EQ(a.status, 200) << a.body;
  reminder::v1::ListDevicesResponse list;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &list).ok()) << a.body;
  ASSERT_EQ(list.devices_size(), 1);
  EXPECT_EQ(list.devices(0).device_id(), reg.device().device_id());
  // Another user's token: 403; a malformed key: 400 naming the field.
  a = http.Call("GET", "/v1/users/ana/devices", "", {Bearer("bea")});
  EXPECT_EQ(a.status, 403) << a.body;
  a = http.Call(
      "POST", "/v1/users/ana/devices",
      R"({"webPush": {"endpoint": "https://push.example.com/s/2", "p256dh": "AAAA", "auth": "BTBZMqHH6r4Tts7J_aSIgg"}})",
      {"Content-Type: application/json", Bearer("ana")});
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("device.web_push.p256dh"), std::string::npos) << a.body;
  a = http.Call("DELETE", "/v1/users/ana/devices/" + reg.device().device_id(), "", {Bearer("ana")});
  EXPECT_EQ(a.status, 200) << a.body;
  a = http.Call("DELETE", "/v1/users/ana/devices/" + reg.device().device_id(), "", {Bearer("ana")});
  EXPECT_EQ(a.status, 404) << a.body;
}

TEST_F(GatewayTest, QueryParametersAndPathVariablesFillTheRequest) {
  HttpClient http(gateway_->port());
  HttpAnswer a =
      http.Call("GET", "/v1/topics/leg-cramps/guidance?locale=es&context.gestationalAgeWeeks=30",
                "", {ServiceBearer()});
  ASSERT_EQ(a.status, 200) << a.body;
  content::v1::GetGuidanceResponse g;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &g).ok());
  EXPECT_EQ(g.guidance().topic_id(), "leg-cramps");
  EXPECT_EQ(g.guidance().locale(), "es");
  a = http.Call("GET", "/v1/topics/no-such-topic/guidance", "", {ServiceBearer()});
  EXPECT_EQ(a.status, 404);
  a = http.Call("GET", "/v1/guidance:lookupByCode?codeSystem=CODE_SYSTEM_ICD10CM&code=O22.33", "",
                {ServiceBearer()});
  ASSERT_EQ(a.status, 200) << a.body;
  content::v1::LookupGuidanceByCodeResponse l;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &l).ok());
  EXPECT_EQ(l.normalized_code(), "O22.33");
  a = http.Call("GET", "/v1/topics?pageSize=abc", "", {ServiceBearer()});
  EXPECT_EQ(a.status, 400);
  EXPECT_TRUE(absl::StrContains(ParseStatus(a).message(), "pageSize")) << a.body;
  a = http.Call("GET", "/v1/topics?pageSize=-1", "", {ServiceBearer()});
  EXPECT_EQ(a.status, 400);  // the content service's own check
}

TEST_F(GatewayTest, UnknownRoutesAndMethods) {
  HttpClient http(gateway_->port());
  EXPECT_EQ(http.Call("GET", "/v1/nothing-here").status, 404);
  EXPECT_EQ(http.Call("GET", "/v1/triage:assess").status, 405);
  EXPECT_EQ(http.Call("GET", "/v1/triage:assess2").status, 404);
  EXPECT_EQ(http.Call("GET", "/v1/topics/%zz/guidance").status, 404);
}

TEST_F(GatewayTest, CorsOnlyForAllowedOrigins) {
  HttpClient http(gateway_->port());
  HttpAnswer a =
      http.Call("OPTIONS", "/v1/triage:assess", "",
                {std::string("Origin: ") + kAllowedOrigin, "Access-Control-Request-Method: POST",
                 "Access-Control-Request-Headers: content-type, authorization"});
  EXPECT_EQ(a.status, 204);
  EXPECT_EQ(a.Header("access-control-allow-origin"), kAllowedOrigin);
  EXPECT_TRUE(absl::StrContains(a.Header("access-control-allow-headers"), "Authorization"));
  a = http.Call("POST", "/v1/triage:assess", kAssessJson,
                {std::string("Origin: ") + kAllowedOrigin, "Content-Type: application/json",
                 ServiceBearer()});
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.Header("access-control-allow-origin"), kAllowedOrigin);

  for (const char* origin : {"http://evil.test", "http://app.legwise.test", "null"}) {
    a = http.Call("OPTIONS", "/v1/triage:assess", "",
                  {std::string("Origin: ") + origin, "Access-Control-Request-Method: POST"});
    EXPECT_EQ(a.status, 403) << origin;
    EXPECT_EQ(a.Header("access-control-allow-origin"), "") << origin;
    a = http.Call(
        "POST", "/v1/triage:assess", kAssessJson,
        {std::string("Origin: ") + origin, "Content-Type: application/json", ServiceBearer()});
    EXPECT_EQ(a.status, 403) << origin;
    EXPECT_EQ(a.Header("access-control-allow-origin"), "");
  }
  // Without an Origin (a server-side caller) there are no CORS headers at all.
  a = http.Call("GET", "/v1/ruleSet", "", {ServiceBearer()});
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.Header("access-control-allow-origin"), "");
}

TEST_F(GatewayTest, NudgeStreamIsServerSentEvents) {
  HttpClient http(gateway_->port());
  // Enough bytes for the retry line and one heartbeat comment.
  HttpAnswer a = http.Call("GET", "/v1/users/ana/nudges:stream", "", {Bearer("ana")}, 3000,
                           /*max_bytes=*/strlen("retry: 2000\n\n: keep-alive\n\n"));
  EXPECT_EQ(a.status, 200) << a.error;
  EXPECT_TRUE(absl::StartsWith(a.Header("content-type"), "text/event-stream"));
  EXPECT_TRUE(absl::StartsWith(a.body, "retry: 2000\n\n: keep-alive\n\n")) << a.body;
  // Last-Event-ID reaches the reminder service as the resume token, which checks it: a made-up
  // one is INVALID_ARGUMENT, as an error event.
  a = http.Call("GET", "/v1/users/ana/nudges:stream", "", {Bearer("ana"), "Last-Event-ID: 0-0"},
                3000);
  EXPECT_TRUE(absl::StrContains(a.body, "event: error\ndata: {\"code\":3")) << a.body;
  // Another user's stream: the reminder service refuses, and the refusal is an error event.
  a = http.Call("GET", "/v1/users/ana/nudges:stream", "", {Bearer("bea")}, 3000);
  EXPECT_TRUE(absl::StrContains(a.body, "event: error\ndata: {\"code\":7")) << a.body;
}

TEST_F(GatewayTest, StreamsAreBounded) {
  HttpClient one(gateway_->port()), two(gateway_->port()), three(gateway_->port());
  std::thread t1(
      [&] { one.Call("GET", "/v1/users/ana/nudges:stream", "", {Bearer("ana")}, 1500); });
  std::thread t2(
      [&] { two.Call("GET", "/v1/users/ana/nudges:stream", "", {Bearer("ana")}, 1500); });
  absl::SleepFor(absl::Milliseconds(500));
  HttpAnswer a = three.Call("GET", "/v1/users/ana/nudges:stream", "", {Bearer("ana")}, 1000);
  EXPECT_EQ(a.status, 503) << a.body;
  t1.join();
  t2.join();
}

TEST_F(GatewayTest, HealthOnTheProbePortFollowsTriage) {
  auto probe = grpc::CreateChannel(absl::StrCat("127.0.0.1:", probe_port_),
                                   grpc::InsecureChannelCredentials());
  EXPECT_TRUE(testing::WaitForHealth(probe.get(), "", true, absl::Seconds(10)).ok());
  EXPECT_TRUE(
      testing::WaitForHealth(probe.get(), "dependency/reminder", true, absl::Seconds(10)).ok());
}

// Last (gtest runs tests in order within a suite): SIGTERM ends the gateway cleanly.
TEST_F(GatewayTest, ZShutsDownGracefully) {
  absl::StatusOr<int> st = gateway_->Terminate();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << *st;
}

}  // namespace
}  // namespace legwise
