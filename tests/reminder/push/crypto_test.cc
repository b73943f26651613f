// Web Push encryption against RFC 8291's published example, byte for byte, and the key and
// encoding helpers. (Signatures are verified by an independent implementation in
// push_sender_test, through push_endpoints.py.)
#include "services/reminder/push/crypto.h"

#include "gtest/gtest.h"
#include "tests/reminder/push/push_test_util.h"

namespace legwise::push {
namespace {

std::string B64(const std::string& text) {
  std::string out;
  EXPECT_TRUE(Base64UrlDecode(text, &out)) << text;
  return out;
}

// RFC 8291 Appendix A.
constexpr char kPlaintext[] = "When I grow up, I want to be a watermelon";
constexpr char kAuthSecret[] = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr char kUaPublic[] =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr char kAsPrivate[] = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr char kAsPublic[] =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
constexpr char kSalt[] = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr char kBody[] =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_"
    "c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEq"
    "KK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

TEST(WebPushEncryptionTest, MatchesRfc8291AppendixAByteForByte) {
  absl::StatusOr<SigningKey> as_key = SigningKey::P256FromParts(B64(kAsPrivate), B64(kAsPublic));
  ASSERT_TRUE(as_key.ok()) << as_key.status();
  EXPECT_EQ(Base64UrlEncode(as_key->PublicPoint()), kAsPublic);
  absl::StatusOr<std::string> body =
      EncryptWebPushWith(kPlaintext, B64(kUaPublic), B64(kAuthSecret), *as_key, B64(kSalt));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(Base64UrlEncode(*body), kBody);
}

TEST(WebPushEncryptionTest, EveryMessageHasItsOwnKeyAndSalt) {
  std::string ua = B64(kUaPublic);
  std::string auth = B64(kAuthSecret);
  absl::StatusOr<std::string> a = EncryptWebPush(kPlaintext, ua, auth);
  absl::StatusOr<std::string> b = EncryptWebPush(kPlaintext, ua, auth);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 86 + sizeof(kPlaintext) - 1 + 1 + 16);
  EXPECT_NE(a->substr(0, 16), b->substr(0, 16));                        // salt
  EXPECT_NE(a->substr(21, 65), b->substr(21, 65));                      // ephemeral public key
  EXPECT_EQ(a->substr(16, 5), std::string("\x00\x00\x10\x00\x41", 5));  // rs 4096, idlen 65
  EXPECT_TRUE(IsP256UncompressedPoint(a->substr(21, 65)));
}

TEST(WebPushEncryptionTest, RefusesWhatCannotBeSent) {
  std::string ua = B64(kUaPublic);
  std::string auth = B64(kAuthSecret);
  EXPECT_TRUE(EncryptWebPush(std::string(kMaxWebPushPlaintext, 'x'), ua, auth).ok());
  EXPECT_FALSE(EncryptWebPush(std::string(kMaxWebPushPlaintext + 1, 'x'), ua, auth).ok());
  EXPECT_FALSE(EncryptWebPush("x", ua, auth.substr(0, 15)).ok());
  std::string off_curve = ua;
  off_curve[64] ^= 1;
  EXPECT_FALSE(EncryptWebPush("x", off_curve, auth).ok());
}

TEST(Base64UrlTest, StrictAlphabetOptionalPadding) {
  std::string out;
  EXPECT_TRUE(Base64UrlDecode("_-8", &out));
  EXPECT_EQ(out, "\xff\xef");
  EXPECT_TRUE(Base64UrlDecode("_-8=", &out));
  EXPECT_EQ(out, "\xff\xef");
  EXPECT_TRUE(Base64UrlDecode("", &out));
  EXPECT_FALSE(Base64UrlDecode("/+8", &out));  // standard base64
  EXPECT_FALSE(Base64UrlDecode("ab c", &out));
  EXPECT_FALSE(Base64UrlDecode("abcde", &out));  // 5 mod 4 == 1: no byte boundary
  EXPECT_FALSE(Base64UrlDecode("ab===", &out));
  EXPECT_EQ(Base64UrlEncode("\xff\xef"), "_-8");
}

TEST(SigningKeyTest, LoadsTheKeysProvidersHandOut) {
  absl::StatusOr<SigningKey> ec = SigningKey::FromPem(testing::PemP256());
  ASSERT_TRUE(ec.ok()) << ec.status();
  EXPECT_EQ(ec->jwt_alg(), "ES256");
  EXPECT_TRUE(IsP256UncompressedPoint(ec->PublicPoint()));
  absl::StatusOr<SigningKey> rsa = SigningKey::FromPem(testing::PemRsa());
  ASSERT_TRUE(rsa.ok()) << rsa.status();
  EXPECT_EQ(rsa->jwt_alg(), "RS256");
  EXPECT_EQ(rsa->PublicPoint(), "");

  EXPECT_FALSE(SigningKey::FromPem("").ok());
  EXPECT_FALSE(
      SigningKey::FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").ok());
  EXPECT_FALSE(SigningKey::FromPem(testing::PemP384()).ok());     // not P-256
  EXPECT_FALSE(SigningKey::FromPem(testing::PemRsa(1024)).ok());  // too short
}

TEST(SigningKeyTest, JwtShape) {
  absl::StatusOr<SigningKey> ec = SigningKey::GenerateP256();
  ASSERT_TRUE(ec.ok());
  absl::StatusOr<std::string> jwt = SignJwt(*ec, R"({"alg":"ES256"})", R"({"iss":"x"})");
  ASSERT_TRUE(jwt.ok());
  testing::DecodedJwt decoded = testing::DecodeJwt(*jwt);
  EXPECT_EQ(testing::Str(decoded.header, "alg"), "ES256");
  EXPECT_EQ(testing::Str(decoded.claims, "iss"), "x");
  EXPECT_EQ(decoded.signature.size(), 64u);  // r || s, not DER
  absl::StatusOr<SigningKey> rsa = SigningKey::FromPem(testing::PemRsa());
  ASSERT_TRUE(rsa.ok());
  jwt = SignJwt(*rsa, R"({"alg":"RS256"})", R"({"iss":"x"})");
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(testing::DecodeJwt(*jwt).signature.size(), 256u);
}

TEST(SigningKeyTest, EcdhAgreesBothWays) {
  absl::StatusOr<SigningKey> a = SigningKey::GenerateP256();
  absl::StatusOr<SigningKey> b = SigningKey::GenerateP256();
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<std::string> ab = a->DeriveSharedSecret(b->PublicPoint());
  absl::StatusOr<std::string> ba = b->DeriveSharedSecret(a->PublicPoint());
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_EQ(*ab, *ba);
  EXPECT_FALSE(a->DeriveSharedSecret("garbage").ok());
}

}  // namespace
}  // namespace legwise::push
