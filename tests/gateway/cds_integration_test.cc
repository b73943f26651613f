// legwise-gateway's EHR endpoints against the real triage and content services: CDS Hooks 2.0
// (discovery, a patient-view call with FHIR R4 prefetch, feedback) with caller JWTs made by an
// independent signer (tests/gateway/cds_tokens.py: PyJWT + cryptography), Infobutton JSON and Atom,
// and the generated OpenAPI document.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "services/gateway/cds/cds_hooks.pb.h"
#include "services/gateway/infobutton_feed.pb.h"
#include "tests/gateway/cds_fhir.h"
#include "tests/gateway/http_client.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise {
namespace {

using testing::HttpAnswer;
using testing::HttpClient;
using testing::ServiceProcess;

constexpr char kBase[] = "https://gw.legwise.test";
constexpr char kIss[] = "https://ehr.example.org";
const std::string kService = std::string(kBase) + "/cds-services/legwise-leg-symptoms";

class CdsGatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::TempDir("legwise-cds-"));
    std::string cmd =
        absl::StrCat("/usr/bin/python3 ", LEGWISE_SOURCE_DIR, "/tests/gateway/cds_tokens.py ",
                     *dir_, " ", kService, " ", kIss);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    google::protobuf::Struct tokens;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                    testing::ReadFileOrDie(*dir_ + "/tokens.json"), &tokens)
                    .ok());
    tokens_ = new google::protobuf::Struct(tokens);
    content_ = new ServiceProcess("legwise-content", {"--redis_addr=127.0.0.1:1"});
    ASSERT_TRUE(content_->Start().ok()) << content_->log_path();
    triage_ = new ServiceProcess("legwise-triage", {"--content_addr=" + content_->address()});
    ASSERT_TRUE(triage_->Start().ok()) << triage_->log_path();
    gateway_ = new ServiceProcess(
        "legwise-gateway",
        {"--triage_addr=" + triage_->address(), "--content_addr=" + content_->address(),
         "--reminder_addr=127.0.0.1:1", absl::StrCat("--probe_port=", testing::FreePort()),
         std::string("--public_base_url=") + kBase,
         "--cds_client_jwks_file=" + *dir_ + "/jwks.json",
         std::string("--cds_client_issuers=https://other.example,") + kIss,
         "--rate_limit_per_second=0"});
    ASSERT_TRUE(gateway_->Start().ok()) << gateway_->log_path();
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete triage_;
    delete content_;
    delete tokens_;
  }
  static std::string Token(const std::string& name) {
    return "Authorization: Bearer " + tokens_->fields().at(name).string_value();
  }
  static std::string EmergencyRequest(const std::string& hook = "patient-view") {
    using namespace testing;  // NOLINT
    return CdsRequest(
        absl::StrCat(R"("patient": )", FhirPatient("1995-05-01"), R"(, "observations": )",
                     FhirBundle({FhirBloodPressure(118, 72, "2026-12-01T09:00:00Z"),
                                 FhirGestationalAge(30, "2026-11-30T09:00:00Z")}),
                     R"(, "conditions": )",
                     FhirBundle({FhirCondition("29857009", "Chest pain"),
                                 FhirCondition("449615005", "Swelling of lower leg", "32153003"),
                                 FhirCondition("38341003", "Hypertensive disorder")})),
        hook);
  }

  static std::string* dir_;
  static google::protobuf::Struct* tokens_;
  static ServiceProcess* content_;
  static ServiceProcess* triage_;
  static ServiceProcess* gateway_;
};
std::string* CdsGatewayTest::dir_ = nullptr;
google::protobuf::Struct* CdsGatewayTest::tokens_ = nullptr;
ServiceProcess* CdsGatewayTest::content_ = nullptr;
ServiceProcess* CdsGatewayTest::triage_ = nullptr;
ServiceProcess* CdsGatewayTest::gateway_ = nullptr;

TEST_F(CdsGatewayTest, Discovery) {
  HttpClient http(gateway_->port());
  HttpAnswer a = http.Call("GET", "/cds-services");
  ASSERT_EQ(a.status, 200) << a.body;
  gateway::cds::Discovery d;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &d).ok()) << a.body;
  ASSERT_GE(d.services_size(), 1);
  EXPECT_EQ(d.services(0).id(), "legwise-leg-symptoms");
  EXPECT_EQ(d.services(0).hook(), "patient-view");
  ASSERT_EQ(d.services_size(), 2);
  EXPECT_EQ(d.services(1).id(), "legwise-leg-symptoms-encounter");
  EXPECT_EQ(d.services(1).hook(), "encounter-start");
}

// encounter-start has its own service (and so its own aud); it answers the same cards, and only
// for its own hook.
TEST_F(CdsGatewayTest, EncounterStartAnswersTheSameCardsOnItsOwnService) {
  HttpClient http(gateway_->port());
  const std::string path = "/cds-services/legwise-leg-symptoms-encounter";
  HttpAnswer a = http.Call("POST", path, EmergencyRequest("encounter-start"),
                           {"Content-Type: application/json", Token("encounter_ok")});
  ASSERT_EQ(a.status, 200) << a.body;
  gateway::cds::HookResponse r;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &r).ok()) << a.body;
  ASSERT_EQ(r.cards_size(), 1) << a.body;
  EXPECT_EQ(r.cards(0).indicator(), "critical");
  EXPECT_TRUE(absl::StrContains(r.cards(0).detail(), "`pe.chest_pain`")) << r.cards(0).detail();

  // A patient-view request sent to the encounter-start service is refused, naming the field.
  a = http.Call("POST", path, EmergencyRequest("patient-view"),
                {"Content-Type: application/json", Token("encounter_other_hook")});
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, "hook")) << a.body;
  // A token for the patient-view service is not valid here (aud names the URL called).
  a = http.Call("POST", path, EmergencyRequest("encounter-start"),
                {"Content-Type: application/json", Token("patient_view_aud")});
  EXPECT_EQ(a.status, 401) << a.body;
}

TEST_F(CdsGatewayTest, PatientViewAnswersACriticalCardNamingWhatIsMissing) {
  HttpClient http(gateway_->port());
  HttpAnswer a = http.Call("POST", "/cds-services/legwise-leg-symptoms", EmergencyRequest(),
                           {"Content-Type: application/json", Token("es384_ok")});
  ASSERT_EQ(a.status, 200) << a.body;
  gateway::cds::HookResponse r;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &r).ok()) << a.body;
  ASSERT_EQ(r.cards_size(), 1) << a.body;
  const gateway::cds::Card& c = r.cards(0);
  EXPECT_EQ(c.indicator(), "critical");
  EXPECT_LT(c.summary().size(), 140u);
  EXPECT_TRUE(absl::StrContains(c.detail(), "EMERGENCY")) << c.detail();
  EXPECT_TRUE(absl::StrContains(c.detail(), "`pe.chest_pain`")) << c.detail();
  EXPECT_TRUE(absl::StrContains(c.detail(), "38341003")) << c.detail();     // not mapped
  EXPECT_TRUE(absl::StrContains(c.detail(), "temperature")) << c.detail();  // missing
  EXPECT_TRUE(absl::StartsWith(c.source().label(), "legwise triage, rule set "));
  EXPECT_GE(c.links_size(), 1);
  EXPECT_TRUE(absl::StartsWith(c.links(0).url(), std::string(kBase) + "/v1/topics/"));
  // CDS Hooks answers keep every field (JsonDefaults::kPrint, unlike the /v1 routes): each card
  // and link carries every key of its message.
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &doc).ok()) << a.body;
  const google::protobuf::Value& card = doc.fields().at("cards").list_value().values(0);
  for (int i = 0; i < gateway::cds::Card::descriptor()->field_count(); ++i) {
    const std::string& key = gateway::cds::Card::descriptor()->field(i)->json_name();
    EXPECT_TRUE(card.struct_value().fields().count(key) == 1) << key << " in " << a.body;
  }
  const google::protobuf::Value& link =
      card.struct_value().fields().at("links").list_value().values(0);
  for (int i = 0; i < gateway::cds::Link::descriptor()->field_count(); ++i) {
    const std::string& key = gateway::cds::Link::descriptor()->field(i)->json_name();
    EXPECT_TRUE(link.struct_value().fields().count(key) == 1) << key << " in " << a.body;
  }
}

TEST_F(CdsGatewayTest, NothingApplicableMeansNoCards) {
  HttpClient http(gateway_->port());
  std::string req = testing::CdsRequest(
      absl::StrCat(R"("patient": )", testing::FhirPatient(), R"(, "conditions": )",
                   testing::FhirBundle({testing::FhirCondition("38341003", "Hypertension")})));
  HttpAnswer a = http.Call("POST", "/cds-services/legwise-leg-symptoms", req,
                           {"Content-Type: application/json", Token("rs384_ok")});
  ASSERT_EQ(a.status, 200) << a.body;
  // An empty repeated field is a default value; CDS Hooks requires the array, so it is printed.
  EXPECT_TRUE(absl::StrContains(a.body, "\"cards\":[]")) << a.body;
}

TEST_F(CdsGatewayTest, TrustsOnlyProperlySignedFreshUnreplayedTokens) {
  HttpClient http(gateway_->port());
  auto call = [&](const std::string& token) {
    return http
        .Call("POST", "/cds-services/legwise-leg-symptoms", EmergencyRequest(),
              {"Content-Type: application/json", Token(token)})
        .status;
  };
  EXPECT_EQ(call("aud_list_ok"), 200);
  // es384_ok was used above (or is now); its twin with the same jti is a replay.
  (void)call("es384_ok");
  EXPECT_EQ(call("es384_replay"), 401);
  for (const char* bad :
       {"expired", "exp_too_far", "wrong_aud", "wrong_iss", "unknown_kid", "rogue_key", "es256_alg",
        "rs384_with_ec_kid", "no_jti", "no_exp", "none_alg"}) {
    EXPECT_EQ(call(bad), 401) << bad;
  }
  HttpAnswer a = http.Call("POST", "/cds-services/legwise-leg-symptoms", EmergencyRequest(),
                           {"Content-Type: application/json"});
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.Header("www-authenticate"), "Bearer");
}

TEST_F(CdsGatewayTest, FeedbackIsAcceptedAndCounted) {
  HttpClient http(gateway_->port());
  HttpAnswer a = http.Call(
      "POST", "/cds-services/legwise-leg-symptoms/feedback",
      R"({"feedback": [{"card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "overridden",
          "overrideReason": {"reason": {"code": "d7f8e5c2", "display": "Patient refused"}},
          "outcomeTimestamp": "2026-12-02T10:00:00Z"}]})",
      {"Content-Type: application/json", Token("feedback_ok")});
  EXPECT_EQ(a.status, 200) << a.body;
  absl::StatusOr<std::string> metrics = testing::HttpGet(gateway_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_TRUE(absl::StrContains(*metrics, "legwise_cds_feedback_total{outcome=\"overridden\"} 1"))
      << *metrics;
  // A malformed entry is refused (the token is spent: replay protection covers feedback too).
  a = http.Call("POST", "/cds-services/legwise-leg-symptoms/feedback",
                R"({"feedback": [{"card": "x", "outcome": "maybe", "outcomeTimestamp": "t"}]})",
                {"Content-Type: application/json", Token("feedback_ok")});
  EXPECT_EQ(a.status, 401);
}

TEST_F(CdsGatewayTest, InfobuttonJsonAndAtomInEnglishAndSpanish) {
  HttpClient http(gateway_->port());
  HttpAnswer a = http.Call(
      "GET",
      "/infobutton?mainSearchCriteria.v.c=O22.33&mainSearchCriteria.v.cs=2.16.840.1.113883.6.90"
      "&knowledgeResponseType=application/json");
  ASSERT_EQ(a.status, 200) << a.body;
  gateway::infobutton::Response feed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &feed).ok()) << a.body;
  ASSERT_GE(feed.feed().entry_size(), 1) << a.body;
  EXPECT_EQ(feed.feed().entry(0).lang(), "en");
  EXPECT_FALSE(feed.feed().entry(0).title().value().empty());
  EXPECT_FALSE(feed.feed().entry(0).summary().value().empty());
  EXPECT_TRUE(absl::StartsWith(feed.feed().entry(0).link(0).href(), kBase));
  EXPECT_TRUE(absl::StrContains(a.body, "\"_value\"")) << a.body;  // MedlinePlus Connect shape

  a = http.Call("GET",
                "/infobutton?mainSearchCriteria.v.c=O22.33&mainSearchCriteria.v.cs="
                "2.16.840.1.113883.6.90&informationRecipient.languageCode.c=es");
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &feed).ok());
  ASSERT_GE(feed.feed().entry_size(), 1);
  EXPECT_EQ(feed.feed().entry(0).lang(), "es");

  a = http.Call("GET",
                "/infobutton?mainSearchCriteria.v.c=55300003&mainSearchCriteria.v.cs="
                "2.16.840.1.113883.6.96&knowledgeResponseType=text/xml");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(absl::StartsWith(a.Header("content-type"), "application/atom+xml"));
  EXPECT_TRUE(absl::StrContains(a.body, "<feed xmlns=\"http://www.w3.org/2005/Atom\""));
  EXPECT_TRUE(absl::StrContains(a.body, "<entry")) << a.body;

  // Unknown code: an empty feed. Bad code system or type: 400.
  a = http.Call("GET",
                "/infobutton?mainSearchCriteria.v.c=Z99.89&mainSearchCriteria.v.cs="
                "2.16.840.1.113883.6.90");
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &feed).ok());
  EXPECT_EQ(feed.feed().entry_size(), 0);
  EXPECT_EQ(
      http.Call("GET", "/infobutton?mainSearchCriteria.v.c=O22.33&mainSearchCriteria.v.cs=1.2")
          .status,
      400);
  EXPECT_EQ(http.Call("GET",
                      "/infobutton?mainSearchCriteria.v.c=O22.33&mainSearchCriteria.v.cs="
                      "2.16.840.1.113883.6.90&knowledgeResponseType=text/html")
                .status,
            400);
  EXPECT_EQ(http.Call("GET", "/infobutton").status, 400);
}

TEST_F(CdsGatewayTest, OpenApiDescribesEveryRoute) {
  HttpClient http(gateway_->port());
  HttpAnswer a = http.Call("GET", "/openapi.json");
  ASSERT_EQ(a.status, 200);
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &doc).ok());
  const auto& paths = doc.fields().at("paths").struct_value().fields();
  for (const char* p :
       {"/v1/triage:assess", "/v1/users/{user_id}/nudges:stream",
        "/v1/users/{plan.user_id}/reminderPlan", "/v1/topics/{topic_id}/guidance", "/cds-services",
        "/infobutton", "/v1/users/{user_id}/devices", "/v1/users/{user_id}/devices/{device_id}"}) {
    EXPECT_TRUE(paths.contains(p)) << p;
  }
  const auto& assess = paths.at("/v1/triage:assess").struct_value().fields().at("post");
  EXPECT_EQ(assess.struct_value().fields().at("operationId").string_value(),
            "legwise.triage.v1.TriageService.AssessLegSymptoms");
  const auto& schemas =
      doc.fields().at("components").struct_value().fields().at("schemas").struct_value().fields();
  ASSERT_TRUE(schemas.contains("legwise.triage.v1.AssessLegSymptomsRequest"));
  EXPECT_TRUE(schemas.at("legwise.triage.v1.AssessLegSymptomsRequest")
                  .struct_value()
                  .fields()
                  .at("properties")
                  .struct_value()
                  .fields()
                  .contains("includeGuidance"));
  EXPECT_TRUE(schemas.contains("google.rpc.Status"));
}

// --cds_client_jwks_file is watched: when an EHR rotates its key (the file is replaced by a
// rename, as a Secret update or a symlink swap does), tokens under the new kid are accepted without
// a restart and the old kid is refused; a file that does not load keeps the keys in place.
TEST(CdsGatewayKeyRotation, RotatedKeyFileIsReloadedUnderARunningGateway) {
  const std::string dir = testing::TempDir("legwise-cds-rot-");
  for (const char* kid : {"old", "new"}) {
    const std::string sub = absl::StrCat(dir, "/", kid);
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p ", sub).c_str()), 0);
    std::string cmd =
        absl::StrCat("/usr/bin/python3 ", LEGWISE_SOURCE_DIR, "/tests/gateway/cds_tokens.py ", sub,
                     " ", kService, " ", kIss, " ", kid);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  auto tokens = [&](const char* kid) {
    google::protobuf::Struct t;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                    testing::ReadFileOrDie(absl::StrCat(dir, "/", kid, "/tokens.json")), &t)
                    .ok());
    return t;
  };
  const google::protobuf::Struct old_tokens = tokens("old"), new_tokens = tokens("new");
  const std::string live = dir + "/jwks.json";
  auto install = [&](const std::string& from) {
    const std::string tmp = live + ".tmp";
    ASSERT_EQ(std::system(absl::StrCat("cp ", from, " ", tmp, " && mv ", tmp, " ", live).c_str()),
              0);
  };
  install(dir + "/old/jwks.json");

  ServiceProcess content("legwise-content", {"--redis_addr=127.0.0.1:1"});
  ASSERT_TRUE(content.Start().ok()) << content.log_path();
  ServiceProcess triage("legwise-triage", {"--content_addr=" + content.address()});
  ASSERT_TRUE(triage.Start().ok()) << triage.log_path();
  ServiceProcess gateway(
      "legwise-gateway",
      {"--triage_addr=" + triage.address(), "--content_addr=" + content.address(),
       "--reminder_addr=127.0.0.1:1", absl::StrCat("--probe_port=", testing::FreePort()),
       std::string("--public_base_url=") + kBase, "--cds_client_jwks_file=" + live,
       std::string("--cds_client_issuers=") + kIss, "--cds_client_jwks_refresh_interval=200ms",
       "--rate_limit_per_second=0"});
  ASSERT_TRUE(gateway.Start().ok()) << gateway.log_path();

  HttpClient http(gateway.port());
  const std::string request = testing::CdsRequest(
      absl::StrCat(R"("patient": )", testing::FhirPatient(), R"(, "conditions": )",
                   testing::FhirBundle({testing::FhirCondition("38341003", "Hypertension")})));
  auto call = [&](const google::protobuf::Struct& t, const std::string& name) {
    return http
        .Call("POST", "/cds-services/legwise-leg-symptoms", request,
              {"Content-Type: application/json",
               "Authorization: Bearer " + t.fields().at(name).string_value()})
        .status;
  };
  EXPECT_EQ(call(old_tokens, "es384_ok"), 200);
  EXPECT_EQ(call(new_tokens, "es384_ok"), 401);  // not trusted yet: refused before its jti counts

  install(dir + "/new/jwks.json");
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    status = call(new_tokens, "es384_ok");
  }
  EXPECT_EQ(status, 200) << "the new key was not picked up; " << gateway.log_path();
  EXPECT_EQ(call(new_tokens, "rs384_ok"), 200);
  EXPECT_EQ(call(old_tokens, "rs384_ok"), 401) << "the old kid is still trusted";
  EXPECT_EQ(call(old_tokens, "aud_list_ok"), 401) << "the old kid is still trusted";
  EXPECT_EQ(call(new_tokens, "es384_replay"), 401) << "the replay cache was lost on reload";

  // A broken file keeps the keys loaded before.
  ASSERT_EQ(
      std::system(
          absl::StrCat("echo '{not json' > ", live, ".tmp && mv ", live, ".tmp ", live).c_str()),
      0);
  absl::SleepFor(absl::Milliseconds(600));
  EXPECT_EQ(call(new_tokens, "aud_list_ok"), 200);
}

}  // namespace
}  // namespace legwise
