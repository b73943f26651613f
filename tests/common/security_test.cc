// Authentication and authorization: JWT verification, caller kinds, per-user access, rate limits,
// and TLS/mTLS on a real server (certificates made with openssl at test time).
#include "services/common/security.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "services/common/server_runner.h"
#include "services/common/validation.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise {
namespace {

using testing::Claims;
using testing::SigningKey;

constexpr char kIss[] = "https://auth.legwise.test";
constexpr char kAud[] = "legwise-api";

class JwtVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rsa_ = SigningKey::Rsa("rsa-1");
    ec_ = SigningKey::Ec("ec-1");
    rogue_ = SigningKey::Rsa("rsa-1");  // same kid, different key
    auto v = JwtVerifier::FromJwks(testing::Jwks({rsa_.get(), ec_.get()}), kIss, kAud,
                                   absl::Seconds(30));
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_ = std::move(*v);
  }
  absl::Status Check(const std::string& token) {
    return verifier_->Verify(token, absl::Now()).status();
  }

  std::unique_ptr<SigningKey> rsa_, ec_, rogue_;
  std::unique_ptr<JwtVerifier> verifier_;
};

TEST_F(JwtVerifierTest, AcceptsRs256AndEs256) {
  auto claims =
      verifier_->Verify(rsa_->Sign(Claims(kIss, kAud, "user-1", absl::Hours(1))), absl::Now());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "user-1");
  auto ec = verifier_->Verify(
      ec_->Sign(Claims(kIss, kAud, "user-2", absl::Hours(1), "legwise.service read")), absl::Now());
  ASSERT_TRUE(ec.ok()) << ec.status();
  EXPECT_EQ(ec->subject, "user-2");
  EXPECT_EQ(ec->scopes, (std::vector<std::string>{"legwise.service", "read"}));
}

TEST_F(JwtVerifierTest, RejectsBadTokens) {
  absl::Time now = absl::Now();
  struct Case {
    const char* name;
    std::string token;
  } cases[] = {
      {"expired", rsa_->Sign(Claims(kIss, kAud, "u", -absl::Minutes(5)))},
      {"not yet valid",
       rsa_->Sign(Claims(kIss, kAud, "u", absl::Hours(2), "", now + absl::Hours(1)))},
      {"wrong audience", rsa_->Sign(Claims(kIss, "someone-else", "u", absl::Hours(1)))},
      {"wrong issuer", rsa_->Sign(Claims("https://evil.test", kAud, "u", absl::Hours(1)))},
      {"wrong signature", rogue_->Sign(Claims(kIss, kAud, "u", absl::Hours(1)))},
      {"alg none", testing::UnsignedToken(Claims(kIss, kAud, "u", absl::Hours(1)))},
      {"no subject", rsa_->Sign(Claims(kIss, kAud, "", absl::Hours(1)))},
      {"garbage", "not.a.token"},
      {"two parts", "abc.def"},
  };
  for (const Case& c : cases) {
    absl::Status s = Check(c.token);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << c.name << ": " << s;
    EXPECT_EQ(s.message().find(c.token), absl::string_view::npos) << "never echo the token";
  }
  // Tampering with the payload of a good token breaks its signature.
  std::string good = rsa_->Sign(Claims(kIss, kAud, "user-1", absl::Hours(1)));
  std::string evil_payload = testing::UnsignedToken(Claims(kIss, kAud, "user-2", absl::Hours(1)));
  size_t dot1 = good.find('.'), dot2 = good.rfind('.');
  std::string forged = good.substr(0, dot1) +
                       evil_payload.substr(evil_payload.find('.'),
                                           evil_payload.rfind('.') - evil_payload.find('.')) +
                       good.substr(dot2);
  EXPECT_EQ(Check(forged).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(JwtVerifierTest, ClockSkewIsSmallAndBounded) {
  // Expired 10 s ago: inside the 30 s skew. Expired 2 minutes ago: outside.
  EXPECT_TRUE(Check(rsa_->Sign(Claims(kIss, kAud, "u", -absl::Seconds(10)))).ok());
  EXPECT_FALSE(Check(rsa_->Sign(Claims(kIss, kAud, "u", -absl::Minutes(2)))).ok());
}

TEST(JwksTest, RejectsUnusableDocuments) {
  EXPECT_FALSE(JwtVerifier::FromJwks("{", kIss, kAud, absl::Seconds(1)).ok());
  EXPECT_FALSE(JwtVerifier::FromJwks(R"({"keys":[]})", kIss, kAud, absl::Seconds(1)).ok());
  EXPECT_FALSE(JwtVerifier::FromJwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})", kIss, kAud,
                                     absl::Seconds(1))
                   .ok())
      << "symmetric keys are never trusted";
}

TEST(AuthorizeUserDataTest, OwnDataOnly) {
  EXPECT_TRUE(AuthorizeUserData({Caller::Kind::kUser, "ana"}, "ana").ok());
  EXPECT_EQ(AuthorizeUserData({Caller::Kind::kUser, "ana"}, "bea").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(AuthorizeUserData({Caller::Kind::kService, "ehr"}, "ana").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(AuthorizeUserData({Caller::Kind::kDevelopment, "dev"}, "ana").ok());
}

TEST(RateLimiterTest, BurstThenSustainedRate) {
  RateLimiter limiter(10, 5);
  absl::Time t = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Allow("a", t)) << i;
  EXPECT_FALSE(limiter.Allow("a", t)) << "burst used up";
  EXPECT_TRUE(limiter.Allow("b", t)) << "callers are limited separately";
  EXPECT_TRUE(limiter.Allow("a", t + absl::Milliseconds(100))) << "one token back after 100 ms";
  EXPECT_FALSE(limiter.Allow("a", t + absl::Milliseconds(100)));
}

TEST(ValidateSecurityOptionsTest, LoopbackOnlyWithoutAuthentication) {
  SecurityOptions o;
  EXPECT_TRUE(ValidateSecurityOptions(o, "127.0.0.1").ok());
  absl::Status s = ValidateSecurityOptions(o, "0.0.0.0");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--insecure"), absl::string_view::npos);
  o.insecure = true;
  EXPECT_TRUE(ValidateSecurityOptions(o, "0.0.0.0").ok());
  SecurityOptions half;
  half.tls_cert_file = "x.pem";
  EXPECT_FALSE(ValidateSecurityOptions(half, "127.0.0.1").ok());
  SecurityOptions jwks;
  jwks.jwks_file = "k.json";
  EXPECT_FALSE(ValidateSecurityOptions(jwks, "127.0.0.1").ok()) << "issuer and audience required";
}

TEST(ReadSecretTest, FileThenEnvironment) {
  std::string dir = testing::TempDir("legwise-secret-");
  std::string file = testing::WriteFile(dir, "pw", "s3cret\n");
  EXPECT_EQ(*ReadSecret(file, "LEGWISE_TEST_SECRET_UNSET"), "s3cret");
  setenv("LEGWISE_TEST_SECRET", "from-env", 1);
  EXPECT_EQ(*ReadSecret("", "LEGWISE_TEST_SECRET"), "from-env");
  EXPECT_EQ(*ReadSecret("", "LEGWISE_TEST_SECRET_UNSET"), "");
  EXPECT_FALSE(ReadSecret(dir + "/missing", "X").ok());
}

// A service whose GetRuleSet answers with who the guard says the caller is.
class WhoAmI : public triage::v1::TriageService::CallbackService {
 public:
  explicit WhoAmI(CallGuard* guard) : guard_(guard) {}
  grpc::ServerUnaryReactor* GetRuleSet(grpc::CallbackServerContext* ctx,
                                       const triage::v1::GetRuleSetRequest*,
                                       triage::v1::GetRuleSetResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    absl::StatusOr<Caller> caller = guard_->Admit(ctx);
    if (caller.ok()) {
      resp->set_version(absl::StrCat(static_cast<int>(caller->kind), ":", caller->subject));
    }
    reactor->Finish(ToGrpcStatus(caller.status()));
    return reactor;
  }

 private:
  CallGuard* guard_;
};

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("legwise-tls-");
    auto certs = testing::MakeCertificates(dir_);
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    key_ = SigningKey::Ec("k1");
    ServerOptions options;
    options.service_name = "tls-test";
    options.port = testing::FreePort();
    options.probe_port = testing::FreePort();
    probe_port_ = options.probe_port;
    options.security.tls_cert_file = certs_["server.pem"];
    options.security.tls_key_file = certs_["server.key"];
    options.security.tls_client_ca_file = certs_["ca.pem"];
    options.security.jwks_file = testing::WriteFile(dir_, "jwks.json", testing::Jwks({key_.get()}));
    options.security.jwt_issuer = kIss;
    options.security.jwt_audience = kAud;
    options.security.rate_limit_per_second = 1;
    options.security.rate_limit_burst = 3;
    auto guard = CallGuard::Create(options.security);
    ASSERT_TRUE(guard.ok()) << guard.status();
    guard_ = std::move(*guard);
    service_ = std::make_unique<WhoAmI>(guard_.get());
    runner_ = std::make_unique<ServerRunner>(options);
    runner_->AddService(service_.get(), "legwise.triage.v1.TriageService");
    ASSERT_TRUE(runner_->Start().ok());
  }
  void TearDown() override {
    runner_->RequestShutdown();
    runner_->Wait();
  }

  grpc::Status Call(const std::string& client_cert, const std::string& client_key,
                    const std::string& token, std::string* who) {
    ClientTlsOptions tls;
    tls.ca_file = certs_["ca.pem"];
    tls.cert_file = client_cert;
    tls.key_file = client_key;
    auto creds = MakeChannelCredentials(tls);
    EXPECT_TRUE(creds.ok());
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", runner_->port()), *creds);
    auto stub = triage::v1::TriageService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    triage::v1::GetRuleSetResponse resp;
    grpc::Status s = stub->GetRuleSet(&ctx, {}, &resp);
    *who = resp.version();
    return s;
  }

  int probe_port_ = 0;
  std::string dir_;
  std::map<std::string, std::string> certs_;
  std::unique_ptr<SigningKey> key_;
  std::unique_ptr<CallGuard> guard_;
  std::unique_ptr<WhoAmI> service_;
  std::unique_ptr<ServerRunner> runner_;
};

TEST_F(TlsServerTest, CallersAreIdentifiedByCertificateOrToken) {
  std::string who;
  grpc::Status s = Call(certs_["client.pem"], certs_["client.key"], "", &who);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(who, "2:ehr-client") << "a trusted client certificate is a service";

  s = Call("", "", key_->Sign(Claims(kIss, kAud, "ana", absl::Hours(1))), &who);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(who, "1:ana") << "a user token is a user";

  s = Call("", "", "", &who);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "no token, no certificate";

  s = Call("", "", key_->Sign(Claims(kIss, kAud, "ana", -absl::Hours(1))), &who);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "expired token";
}

TEST_F(TlsServerTest, UntrustedClientCertificateIsRejected) {
  std::string who;
  grpc::Status s = Call(certs_["rogue.pem"], certs_["rogue.key"], "", &who);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << "the TLS handshake fails";
}

TEST_F(TlsServerTest, PlaintextClientCannotTalkToTlsServer) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", runner_->port()),
                                     grpc::InsecureChannelCredentials());
  auto health = testing::CheckHealth(channel.get(), "");
  EXPECT_FALSE(health.ok());
}

TEST_F(TlsServerTest, PlaintextProbePortServesOnlyHealth) {
  // Kubelet gRPC probes speak plaintext: the probe port mirrors the health statuses.
  auto probe = grpc::CreateChannel(absl::StrCat("127.0.0.1:", probe_port_),
                                   grpc::InsecureChannelCredentials());
  EXPECT_TRUE(testing::WaitForHealth(probe.get(), "liveness", true, absl::Seconds(5)).ok());
  EXPECT_TRUE(testing::WaitForHealth(probe.get(), "", true, absl::Seconds(5)).ok());
  auto stub = triage::v1::TriageService::NewStub(probe);
  grpc::ClientContext ctx;
  triage::v1::GetRuleSetResponse resp;
  EXPECT_EQ(stub->GetRuleSet(&ctx, {}, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED)
      << "no service but health on the probe port";
}

TEST_F(TlsServerTest, RateLimitPerCaller) {
  std::string token = key_->Sign(Claims(kIss, kAud, "busy", absl::Hours(1)));
  int exhausted = 0;
  for (int i = 0; i < 6; ++i) {
    std::string who;
    grpc::Status s = Call("", "", token, &who);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++exhausted;
  }
  EXPECT_GE(exhausted, 2) << "burst of 3 at 1/s: later calls are refused";
  std::string who;
  EXPECT_TRUE(Call("", "", key_->Sign(Claims(kIss, kAud, "calm", absl::Hours(1))), &who).ok())
      << "other callers are not affected";
}

}  // namespace
}  // namespace legwise
