// Provider tokens: how long each is reused, what it claims, and the credential files' checks.
#include "services/reminder/push/credentials.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/common/logging.h"
#include "tests/reminder/push/push_test_util.h"

namespace legwise::push {
namespace {

using testing::DecodeJwt;
using testing::Num;
using testing::Str;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

ApnsCredentials Apns() {
  return ApnsCredentials{*SigningKey::FromPem(testing::PemP256()), "ABC123DEFG", "TEAM456789"};
}

TEST(ApnsTokenTest, ClaimsAndHeader) {
  ApnsTokenCache cache(Apns());
  absl::StatusOr<std::string> token = cache.Get(kT0);
  ASSERT_TRUE(token.ok());
  testing::DecodedJwt jwt = DecodeJwt(*token);
  EXPECT_EQ(Str(jwt.header, "alg"), "ES256");
  EXPECT_EQ(Str(jwt.header, "kid"), "ABC123DEFG");
  EXPECT_EQ(Str(jwt.claims, "iss"), "TEAM456789");
  EXPECT_EQ(Num(jwt.claims, "iat"), absl::ToUnixSeconds(kT0));
}

// Apple: reuse a provider token for at least 20 minutes and at most 60.
TEST(ApnsTokenTest, ReusedBetweenTwentyAndSixtyMinutes) {
  ApnsTokenCache cache(Apns());  // renews at 50 minutes
  std::string first = *cache.Get(kT0);
  for (int minute = 0; minute < 50; ++minute) {
    ASSERT_EQ(*cache.Get(kT0 + absl::Minutes(minute)), first) << minute;
  }
  std::string second = *cache.Get(kT0 + absl::Minutes(50));
  EXPECT_NE(second, first);
  EXPECT_EQ(cache.minted(), 2);
  // Out-of-range settings are clamped into Apple's window.
  ApnsTokenCache eager(Apns(), absl::Minutes(1));
  std::string t = *eager.Get(kT0);
  EXPECT_EQ(*eager.Get(kT0 + absl::Minutes(19)), t);
  EXPECT_NE(*eager.Get(kT0 + absl::Minutes(20)), t);
  ApnsTokenCache lazy(Apns(), absl::Hours(5));
  t = *lazy.Get(kT0);
  EXPECT_NE(*lazy.Get(kT0 + absl::Minutes(55)), t);
  // A clock that went back renews (a token from the future would be refused).
  ApnsTokenCache back(Apns());
  t = *back.Get(kT0);
  EXPECT_NE(*back.Get(kT0 - absl::Minutes(1)), t);
}

TEST(ApnsTokenTest, ExpiredProviderTokenRenewsOnlyAfterTwentyMinutes) {
  ApnsTokenCache cache(Apns());
  std::string first = *cache.Get(kT0);
  EXPECT_FALSE(cache.Invalidate(kT0 + absl::Minutes(5)));
  EXPECT_EQ(*cache.Get(kT0 + absl::Minutes(5)), first);
  EXPECT_TRUE(cache.Invalidate(kT0 + absl::Minutes(21)));
  EXPECT_NE(*cache.Get(kT0 + absl::Minutes(21)), first);
}

TEST(ApnsTokenTest, LoadChecksIdsAndKey) {
  std::string dir = ::testing::TempDir();
  std::string p8 = dir + "/AuthKey.p8";
  FILE* f = fopen(p8.c_str(), "w");
  fputs(testing::PemP256().c_str(), f);
  fclose(f);
  EXPECT_TRUE(LoadApnsCredentials(p8, "ABC123DEFG", "TEAM456789").ok());
  EXPECT_FALSE(LoadApnsCredentials(p8, "short", "TEAM456789").ok());
  EXPECT_FALSE(LoadApnsCredentials(p8, "ABC123DEFG", "TEAM45678\"").ok());
  EXPECT_EQ(LoadApnsCredentials(dir + "/missing.p8", "ABC123DEFG", "TEAM456789").status().code(),
            absl::StatusCode::kNotFound);
  std::string rsa = dir + "/rsa.pem";
  f = fopen(rsa.c_str(), "w");
  fputs(testing::PemRsa().c_str(), f);
  fclose(f);
  EXPECT_FALSE(LoadApnsCredentials(rsa, "ABC123DEFG", "TEAM456789").ok());
}

std::string ServiceAccount(const std::string& overrides = "") {
  std::string json = absl::StrCat(
      R"({"type":"service_account","project_id":"legwise-test","private_key_id":"k1",)",
      R"("private_key":")", JsonEscape(testing::PemRsa()), R"(",)",
      R"("client_email":"push@legwise-test.iam.gserviceaccount.com",)",
      R"("token_uri":"https://oauth2.googleapis.com/token")", overrides, "}");
  return json;
}

TEST(FcmCredentialsTest, ParsesAServiceAccount) {
  absl::StatusOr<FcmCredentials> c = ParseFcmCredentials(ServiceAccount());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->project_id, "legwise-test");
  EXPECT_EQ(c->client_email, "push@legwise-test.iam.gserviceaccount.com");
  EXPECT_EQ(c->token_uri, "https://oauth2.googleapis.com/token");
}

TEST(FcmCredentialsTest, RefusesBrokenOnesNamingTheMember) {
  auto message = [](const std::string& json) {
    return std::string(ParseFcmCredentials(json).status().message());
  };
  EXPECT_TRUE(absl::StrContains(message("not json"), "not a JSON object"));
  EXPECT_TRUE(absl::StrContains(
      message(R"({"project_id":"p","token_uri":"https://x/token","private_key":"x"})"),
      "client_email"));
  absl::StatusOr<FcmCredentials> ok = ParseFcmCredentials(ServiceAccount());
  ASSERT_TRUE(ok.ok());
  std::string pem = JsonEscape(testing::PemRsa());
  EXPECT_TRUE(absl::StrContains(
      message(absl::StrCat(
          R"({"project_id":"p","client_email":"e","token_uri":"http://x/token","private_key":")",
          pem, "\"}")),
      "https"));
  EXPECT_TRUE(absl::StrContains(
      message(absl::StrCat(
          R"({"project_id":"P/../x","client_email":"e","token_uri":"https://x/token","private_key":")",
          pem, "\"}")),
      "project_id"));
  EXPECT_TRUE(absl::StrContains(
      message(absl::StrCat(
          R"({"project_id":"p","client_email":"e","token_uri":"https://x/token","private_key":")",
          JsonEscape(testing::PemP256()), "\"}")),
      "RSA"));
  EXPECT_TRUE(absl::StrContains(message(R"({"type":"authorized_user"})"), "service_account"));
}

TEST(FcmAccessTokenTest, GrantAssertionClaims) {
  FcmAccessToken token(*ParseFcmCredentials(ServiceAccount()));
  absl::StatusOr<std::string> body = token.GrantRequestBody(kT0);
  ASSERT_TRUE(body.ok());
  constexpr absl::string_view kPrefix =
      "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
  ASSERT_TRUE(absl::StartsWith(*body, kPrefix)) << *body;
  testing::DecodedJwt jwt = DecodeJwt(std::string(body->substr(kPrefix.size())));
  EXPECT_EQ(Str(jwt.header, "alg"), "RS256");
  EXPECT_EQ(Str(jwt.header, "kid"), "k1");
  EXPECT_EQ(Str(jwt.claims, "iss"), "push@legwise-test.iam.gserviceaccount.com");
  EXPECT_EQ(Str(jwt.claims, "aud"), "https://oauth2.googleapis.com/token");
  EXPECT_EQ(Str(jwt.claims, "scope"), "https://www.googleapis.com/auth/firebase.messaging");
  EXPECT_EQ(Num(jwt.claims, "exp") - Num(jwt.claims, "iat"), 3600);
}

TEST(FcmAccessTokenTest, CachedUntilShortlyBeforeExpiry) {
  FcmAccessToken token(*ParseFcmCredentials(ServiceAccount()));
  EXPECT_EQ(token.Current(kT0), "");
  ASSERT_TRUE(token
                  .AcceptGrantResponse(
                      R"({"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer"})", kT0)
                  .ok());
  EXPECT_EQ(token.Current(kT0), "ya29.abc");
  EXPECT_EQ(token.Current(kT0 + absl::Seconds(3538)), "ya29.abc");
  EXPECT_EQ(token.Current(kT0 + absl::Seconds(3539)), "");  // a minute early
  token.Invalidate();
  EXPECT_EQ(token.Current(kT0), "");
  for (const char* bad :
       {"", "[]", R"({"access_token":"x"})", R"({"expires_in":10})",
        R"({"access_token":"x","expires_in":-1})", R"({"access_token":"x\ny","expires_in":10})",
        R"({"access_token":"x","expires_in":"10"})"}) {
    EXPECT_FALSE(token.AcceptGrantResponse(bad, kT0).ok()) << bad;
  }
}

TEST(VapidTest, HeaderClaimsAndCaching) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/vapid.pem";
  FILE* f = fopen(path.c_str(), "w");
  fputs(testing::PemP256().c_str(), f);
  fclose(f);
  EXPECT_FALSE(LoadVapidCredentials(path, "ops@legwise.example").ok());
  EXPECT_FALSE(LoadVapidCredentials(path, "mailto:a\"b").ok());
  absl::StatusOr<VapidCredentials> credentials =
      LoadVapidCredentials(path, "mailto:ops@legwise.example");
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  VapidSigner signer(*credentials);
  std::string header = *signer.Authorization("https://fcm.googleapis.com", kT0);
  ASSERT_TRUE(absl::StartsWith(header, "vapid t=")) << header;
  size_t comma = header.find(", k=");
  ASSERT_NE(comma, std::string::npos);
  EXPECT_EQ(header.substr(comma + 4), signer.public_key());
  std::string point;
  ASSERT_TRUE(Base64UrlDecode(signer.public_key(), &point));
  EXPECT_TRUE(IsP256UncompressedPoint(point));
  testing::DecodedJwt jwt = DecodeJwt(header.substr(8, comma - 8));
  EXPECT_EQ(Str(jwt.header, "alg"), "ES256");
  EXPECT_EQ(Str(jwt.claims, "aud"), "https://fcm.googleapis.com");
  EXPECT_EQ(Str(jwt.claims, "sub"), "mailto:ops@legwise.example");
  EXPECT_EQ(Num(jwt.claims, "exp"), absl::ToUnixSeconds(kT0 + absl::Hours(12)));
  // Reused per origin until an hour is left; other origins get their own.
  EXPECT_EQ(*signer.Authorization("https://fcm.googleapis.com", kT0 + absl::Hours(10)), header);
  EXPECT_NE(
      *signer.Authorization("https://fcm.googleapis.com", kT0 + absl::Hours(11) + absl::Seconds(1)),
      header);
  EXPECT_NE(*signer.Authorization("https://updates.push.services.mozilla.com", kT0), header);
}

}  // namespace
}  // namespace legwise::push
