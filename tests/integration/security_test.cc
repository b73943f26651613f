// The security promises over the wire, with the real executables: TLS everywhere, mTLS between
// triage and content, bearer JWTs for users, per-user authorization on reminders, services kept out
// of reminders, untrusted certificates and oversized messages refused. Certificates and keys are
// made at test time.
#include "services/common/security.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

#ifndef LEGWISE_SOURCE_DIR
#define LEGWISE_SOURCE_DIR "."
#endif

namespace legwise {
namespace {

using testing::ServiceProcess;

// Runs the outside raw gRPC client and returns the status code name it printed.
std::string RawCall(const std::string& args) {
  std::string cmd = absl::StrCat("/usr/bin/python3 ", LEGWISE_SOURCE_DIR,
                                 "/tests/outside_client/raw_call.py ", args);
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[256];
  size_t n;
  while (p != nullptr && (n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (p != nullptr) ::pclose(p);
  return out;
}

constexpr char kIss[] = "https://auth.legwise.test";
constexpr char kAud[] = "legwise-api";

class SecureSuiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::TempDir("legwise-secure-"));
    auto certs = testing::MakeCertificates(*dir_);
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = new std::map<std::string, std::string>(*certs);
    key_ = testing::SigningKey::Ec("test-key").release();
    std::string jwks = testing::WriteFile(*dir_, "jwks.json", testing::Jwks({key_}));
    std::vector<std::string> common = {
        "--tls_cert_file=" + (*certs_)["server.pem"],  "--tls_key_file=" + (*certs_)["server.key"],
        "--tls_client_ca_file=" + (*certs_)["ca.pem"], "--jwks_file=" + jwks,
        std::string("--jwt_issuer=") + kIss,           std::string("--jwt_audience=") + kAud};
    auto with = [&](std::vector<std::string> extra) {
      extra.insert(extra.end(), common.begin(), common.end());
      extra.push_back(absl::StrCat("--probe_port=", testing::FreePort()));
      return extra;
    };
    content_ = new ServiceProcess("legwise-content", with({"--redis_addr=127.0.0.1:1"}));
    ASSERT_TRUE(content_->Start().ok()) << content_->log_path();
    // Triage reaches content over mTLS with the client certificate.
    triage_ = new ServiceProcess(
        "legwise-triage",
        with({"--content_addr=localhost:" + std::to_string(content_->port()),
              "--content_tls_ca_file=" + (*certs_)["ca.pem"],
              "--content_tls_cert_file=" + (*certs_)["client.pem"],
              "--content_tls_key_file=" + (*certs_)["client.key"], "--guidance_timeout=2s"}));
    ASSERT_TRUE(triage_->Start().ok()) << triage_->log_path();
    reminder_ = new ServiceProcess("legwise-reminder", with({"--memory_store", "--content_addr="}));
    ASSERT_TRUE(reminder_->Start().ok()) << reminder_->log_path();
  }
  static void TearDownTestSuite() {
    delete reminder_;
    delete triage_;
    delete content_;
    delete key_;
  }

  // A TLS channel, with the EHR client certificate when `ehr`.
  static std::shared_ptr<grpc::Channel> Channel(const ServiceProcess* p, bool ehr,
                                                const std::string& cert = "client") {
    ClientTlsOptions tls;
    tls.ca_file = (*certs_)["ca.pem"];
    if (ehr) {
      tls.cert_file = (*certs_)[cert + ".pem"];
      tls.key_file = (*certs_)[cert + ".key"];
    }
    return grpc::CreateChannel(absl::StrCat("localhost:", p->port()), *MakeChannelCredentials(tls));
  }
  static void Prepare(grpc::ClientContext* ctx, const std::string& token) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  }
  static std::string UserToken(const std::string& sub, absl::Duration ttl = absl::Hours(1)) {
    return key_->Sign(testing::Claims(kIss, kAud, sub, ttl));
  }
  static reminder::v1::ReminderPlan Plan(const std::string& user) {
    reminder::v1::ReminderPlan p;
    p.set_user_id(user);
    p.set_time_zone("Europe/Madrid");
    p.mutable_wake_time()->set_hours(7);
    p.mutable_sleep_time()->set_hours(22);
    p.add_kinds(reminder::v1::NUDGE_KIND_HYDRATION);
    return p;
  }
  grpc::Status GetPlan(std::shared_ptr<grpc::Channel> ch, const std::string& token,
                       const std::string& user) {
    auto stub = reminder::v1::ReminderService::NewStub(ch);
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    reminder::v1::GetReminderPlanRequest req;
    req.set_user_id(user);
    reminder::v1::GetReminderPlanResponse resp;
    return stub->GetReminderPlan(&ctx, req, &resp);
  }

  static std::string* dir_;
  static std::map<std::string, std::string>* certs_;
  static testing::SigningKey* key_;
  static ServiceProcess* content_;
  static ServiceProcess* triage_;
  static ServiceProcess* reminder_;
};
std::string* SecureSuiteTest::dir_ = nullptr;
std::map<std::string, std::string>* SecureSuiteTest::certs_ = nullptr;
testing::SigningKey* SecureSuiteTest::key_ = nullptr;
ServiceProcess* SecureSuiteTest::content_ = nullptr;
ServiceProcess* SecureSuiteTest::triage_ = nullptr;
ServiceProcess* SecureSuiteTest::reminder_ = nullptr;

TEST_F(SecureSuiteTest, UsersReachOnlyTheirOwnReminders) {
  auto ch = Channel(reminder_, /*ehr=*/false);
  auto stub = reminder::v1::ReminderService::NewStub(ch);
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, UserToken("ana"));
    reminder::v1::CreateReminderPlanRequest req;
    *req.mutable_plan() = Plan("ana");
    reminder::v1::CreateReminderPlanResponse resp;
    grpc::Status s = stub->CreateReminderPlan(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_TRUE(GetPlan(ch, UserToken("ana"), "ana").ok());
  EXPECT_EQ(GetPlan(ch, UserToken("bea"), "ana").error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "another user's plan";
  EXPECT_EQ(GetPlan(ch, "", "ana").error_code(), grpc::StatusCode::UNAUTHENTICATED) << "no token";
  EXPECT_EQ(GetPlan(ch, UserToken("ana", -absl::Hours(1)), "ana").error_code(),
            grpc::StatusCode::UNAUTHENTICATED)
      << "expired token";
  EXPECT_EQ(
      GetPlan(ch, testing::UnsignedToken(testing::Claims(kIss, kAud, "ana", absl::Hours(1))), "ana")
          .error_code(),
      grpc::StatusCode::UNAUTHENTICATED)
      << "alg none";
  auto other_key = testing::SigningKey::Ec("test-key");
  EXPECT_EQ(GetPlan(ch, other_key->Sign(testing::Claims(kIss, kAud, "ana", absl::Hours(1))), "ana")
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED)
      << "signed by an unknown key";
  EXPECT_EQ(
      GetPlan(ch, key_->Sign(testing::Claims(kIss, "other-api", "ana", absl::Hours(1))), "ana")
          .error_code(),
      grpc::StatusCode::UNAUTHENTICATED)
      << "wrong audience";
}

TEST_F(SecureSuiteTest, ServicesReadGuidanceButNeverReminders) {
  auto ehr_reminder = Channel(reminder_, /*ehr=*/true);
  EXPECT_EQ(GetPlan(ehr_reminder, "", "ana").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto stub = content::v1::ContentService::NewStub(Channel(content_, /*ehr=*/true));
  grpc::ClientContext ctx;
  Prepare(&ctx, "");
  content::v1::LookupGuidanceByCodeRequest req;
  req.set_code_system(content::v1::CODE_SYSTEM_ICD10CM);
  req.set_code("O22.33");
  content::v1::LookupGuidanceByCodeResponse resp;
  grpc::Status s = stub->LookupGuidanceByCode(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(resp.guidance().empty());
}

// Every call by a service leaves one audit line: caller identity, method, code; nothing else.
TEST_F(SecureSuiteTest, ServiceCallsAreAudited) {
  auto ehr_reminder = Channel(reminder_, /*ehr=*/true);
  EXPECT_EQ(GetPlan(ehr_reminder, "", "ana").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto stub = content::v1::ContentService::NewStub(Channel(content_, /*ehr=*/true));
  grpc::ClientContext ctx;
  Prepare(&ctx, "");
  content::v1::LookupGuidanceByCodeRequest req;
  req.set_code_system(content::v1::CODE_SYSTEM_ICD10CM);
  req.set_code("O22.33");
  content::v1::LookupGuidanceByCodeResponse resp;
  ASSERT_TRUE(stub->LookupGuidanceByCode(&ctx, req, &resp).ok());
  auto audited = [](const ServiceProcess* p, const std::string& method, const std::string& code) {
    for (int i = 0; i < 20; ++i) {
      std::string log = testing::ReadFileOrDie(p->log_path());
      for (absl::string_view line : absl::StrSplit(log, '\n')) {
        if (absl::StrContains(line, "\"event\":\"audit\"") &&
            absl::StrContains(line, "\"caller\":\"ehr-client\"") &&
            absl::StrContains(line, "\"method\":\"" + method + "\"") &&
            absl::StrContains(line, "\"code\":\"" + code + "\"")) {
          EXPECT_FALSE(absl::StrContains(line, "O22")) << line;
          return true;
        }
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  };
  EXPECT_TRUE(audited(content_, "/legwise.content.v1.ContentService/LookupGuidanceByCode", "OK"));
  EXPECT_TRUE(audited(reminder_, "/legwise.reminder.v1.ReminderService/GetReminderPlan",
                      "PERMISSION_DENIED"));
}

// With --service_identities, a certificate from the CA that names none of them is not a service:
// without a token its call is UNAUTHENTICATED; the named identity still is one.
TEST_F(SecureSuiteTest, ServiceIdentitiesDecideWhichCertificatesAreServices) {
  for (const char* identities : {"triage.legwise.svc", "triage.legwise.svc,ehr-client"}) {
    SCOPED_TRACE(identities);
    ServiceProcess content(
        "legwise-content",
        {"--redis_addr=127.0.0.1:1", "--tls_cert_file=" + (*certs_)["server.pem"],
         "--tls_key_file=" + (*certs_)["server.key"], "--tls_client_ca_file=" + (*certs_)["ca.pem"],
         "--jwks_file=" + *dir_ + "/jwks.json", std::string("--jwt_issuer=") + kIss,
         std::string("--jwt_audience=") + kAud, std::string("--service_identities=") + identities,
         absl::StrCat("--probe_port=", testing::FreePort())});
    ASSERT_TRUE(content.Start().ok()) << content.log_path();
    auto stub = content::v1::ContentService::NewStub(Channel(&content, /*ehr=*/true));
    grpc::ClientContext ctx;
    Prepare(&ctx, "");
    content::v1::LookupGuidanceByCodeRequest req;
    req.set_code_system(content::v1::CODE_SYSTEM_ICD10CM);
    req.set_code("O22.33");
    content::v1::LookupGuidanceByCodeResponse resp;
    grpc::Status s = stub->LookupGuidanceByCode(&ctx, req, &resp);
    if (absl::StrContains(identities, "ehr-client")) {
      EXPECT_TRUE(s.ok()) << s.error_message();
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
    }
  }
}

TEST_F(SecureSuiteTest, TriageFetchesGuidanceOverMutualTls) {
  auto stub = triage::v1::TriageService::NewStub(Channel(triage_, /*ehr=*/false));
  grpc::ClientContext ctx;
  Prepare(&ctx, UserToken("ana"));
  triage::v1::AssessLegSymptomsRequest req;
  req.add_symptoms()->set_kind(triage::v1::SYMPTOM_KIND_MUSCLE_CRAMP);
  req.set_include_guidance(true);
  triage::v1::AssessLegSymptomsResponse resp;
  grpc::Status s = stub->AssessLegSymptoms(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(resp.guidance_degraded()) << "content must accept triage's client certificate";
  EXPECT_FALSE(resp.guidance().empty());
}

TEST_F(SecureSuiteTest, UntrustedCertificatesAndPlaintextAreRefused) {
  EXPECT_EQ(
      GetPlan(Channel(reminder_, /*ehr=*/true, "rogue"), UserToken("ana"), "ana").error_code(),
      grpc::StatusCode::UNAVAILABLE)
      << "a client certificate from an unknown CA fails the handshake";
  EXPECT_EQ(GetPlan(reminder_->channel(), UserToken("ana"), "ana").error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "no plaintext on the TLS port";
}

TEST_F(SecureSuiteTest, OversizedMessagesAreRefused) {
  auto stub = reminder::v1::ReminderService::NewStub(Channel(reminder_, /*ehr=*/false));
  grpc::ClientContext ctx;
  Prepare(&ctx, UserToken("ana"));
  reminder::v1::CreateReminderPlanRequest req;
  *req.mutable_plan() = Plan("ana");
  req.set_request_id(std::string(100 * 1024, 'x'));  // over the 64 KiB limit
  reminder::v1::CreateReminderPlanResponse resp;
  EXPECT_EQ(stub->CreateReminderPlan(&ctx, req, &resp).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// Claims JSON with the given time claims, written as raw JSON numbers (or strings).
std::string TimeClaims(const std::string& times) {
  return absl::StrCat(R"({"iss":")", kIss, R"(","aud":")", kAud, R"(","sub":"ana",)", times, "}");
}

// NumericDate claims are whole seconds in range: 1e19 or 1e300 (beyond int64: the old cast was
// undefined and let them through), negative, fractional or non-numbers are refused.
TEST_F(SecureSuiteTest, TimeClaimsOutOfRangeAreRefused) {
  auto ch = Channel(reminder_, /*ehr=*/false);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::string exp = absl::StrCat(R"("exp":)", now + 3600);
  EXPECT_TRUE(GetPlan(ch, key_->Sign(TimeClaims(exp)), "ana").ok()) << "the base token is good";
  for (const std::string& bad :
       {absl::StrCat(exp, R"(,"nbf":1e19)"), absl::StrCat(exp, R"(,"nbf":1e300)"),
        absl::StrCat(exp, R"(,"nbf":-1e19)"), absl::StrCat(exp, R"(,"nbf":-5)"),
        absl::StrCat(exp, R"(,"nbf":)", now - 10, ".5"), absl::StrCat(exp, R"(,"nbf":"0")"),
        absl::StrCat(exp, R"(,"iat":1e300)"), absl::StrCat(exp, R"(,"iat":1e19)"),
        std::string(R"("exp":1e19)"), std::string(R"("exp":1e300)"), std::string(R"("exp":-1)"),
        absl::StrCat(R"("exp":)", now + 60, ".25"), std::string(R"("exp":"tomorrow")")}) {
    EXPECT_EQ(GetPlan(ch, key_->Sign(TimeClaims(bad)), "ana").error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << bad;
  }
}

// RFC 7515: a "crit" header names extensions that must be understood; we understand none.
TEST_F(SecureSuiteTest, CritHeaderIsRefused) {
  auto ch = Channel(reminder_, /*ehr=*/false);
  const std::string claims = testing::Claims(kIss, kAud, "ana", absl::Hours(1));
  EXPECT_TRUE(GetPlan(ch, key_->Sign(claims), "ana").ok());
  EXPECT_EQ(GetPlan(ch, key_->Sign(claims, R"("crit":["exp"],"exp":1)"), "ana").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      GetPlan(ch, key_->Sign(claims, R"("crit":["x-unknown"],"x-unknown":1)"), "ana").error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
}

// --jwt_max_lifetime (24 h by default): a token valid for 100 years, or issued for longer than a
// day, is refused, however well signed.
TEST_F(SecureSuiteTest, TokenLifetimeIsBounded) {
  auto ch = Channel(reminder_, /*ehr=*/false);
  EXPECT_TRUE(GetPlan(ch, UserToken("ana", absl::Hours(23)), "ana").ok());
  EXPECT_EQ(GetPlan(ch, UserToken("ana", absl::Hours(24 * 365 * 100)), "ana").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  EXPECT_EQ(GetPlan(ch,
                    key_->Sign(TimeClaims(
                        absl::StrCat(R"("iat":)", now - 48 * 3600, R"(,"exp":)", now + 3600))),
                    "ana")
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED)
      << "issued for 49 hours";
  EXPECT_EQ(
      GetPlan(
          ch,
          key_->Sign(TimeClaims(absl::StrCat(R"("iat":)", now + 3600, R"(,"exp":)", now + 7200))),
          "ana")
          .error_code(),
      grpc::StatusCode::UNAUTHENTICATED)
      << "issued in the future";
}

// In production mode server reflection (v1 and v1alpha) needs the credentials the services need:
// without them it answers UNAUTHENTICATED before anything else; with a user's token it answers.
TEST_F(SecureSuiteTest, ReflectionNeedsCredentials) {
  for (const char* version : {"v1alpha", "v1"}) {
    SCOPED_TRACE(version);
    // ServerReflectionRequest{list_services: ""}.
    const std::string args = absl::StrCat(
        "localhost:", content_->port(), " /grpc.reflection.", version,
        ".ServerReflection/ServerReflectionInfo 3a00 --bidi --ca ", (*certs_)["ca.pem"]);
    EXPECT_EQ(RawCall(args), "UNAUTHENTICATED\n");
    EXPECT_EQ(RawCall(absl::StrCat(args, " --authorization 'Bearer ", UserToken("ana"), "'")),
              "OK\n");
    EXPECT_EQ(RawCall(absl::StrCat(args, " --authorization 'Bearer forged.token.here'")),
              "UNAUTHENTICATED\n");
  }
}

// Only signing keys verify tokens: a JWKS entry marked "use": "enc", one whose "alg" does not
// match its key type, and an RSA key under 2048 bits are skipped (the server logs why), so tokens
// they sign are refused, while the good key in the same JWKS still works.
TEST(JwksFilterTest, OnlySigningKeysOfAcceptedSizeVerify) {
  std::string dir = testing::TempDir("legwise-jwks-");
  auto good = testing::SigningKey::Ec("good");
  auto enc = testing::SigningKey::Ec("enc");
  auto mismatch = testing::SigningKey::Rsa("mismatch");
  auto small = testing::SigningKey::Rsa("small", 1024);
  const std::string jwks = absl::StrCat(
      R"({"keys":[)", good->JwkJson(), ",",
      absl::StrReplaceAll(enc->JwkJson(), {{R"("use":"sig")", R"("use":"enc")"}}), ",",
      absl::StrReplaceAll(mismatch->JwkJson(), {{R"("alg":"RS256")", R"("alg":"PS256")"}}), ",",
      small->JwkJson(), "]}");
  ServiceProcess content(
      "legwise-content",
      {"--redis_addr=127.0.0.1:1", "--jwks_file=" + testing::WriteFile(dir, "jwks.json", jwks),
       std::string("--jwt_issuer=") + kIss, std::string("--jwt_audience=") + kAud});
  ASSERT_TRUE(content.Start().ok()) << content.log_path();
  auto call = [&](const testing::SigningKey& key) {
    auto stub = content::v1::ContentService::NewStub(content.channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    ctx.AddMetadata("authorization",
                    "Bearer " + key.Sign(testing::Claims(kIss, kAud, "ana", absl::Hours(1))));
    content::v1::ListTopicsRequest req;
    content::v1::ListTopicsResponse resp;
    return stub->ListTopics(&ctx, req, &resp).error_code();
  };
  EXPECT_EQ(call(*good), grpc::StatusCode::OK);
  EXPECT_EQ(call(*enc), grpc::StatusCode::UNAUTHENTICATED) << "use: enc";
  EXPECT_EQ(call(*mismatch), grpc::StatusCode::UNAUTHENTICATED) << "alg mismatch";
  EXPECT_EQ(call(*small), grpc::StatusCode::UNAUTHENTICATED) << "RSA-1024";
}

}  // namespace
}  // namespace legwise
