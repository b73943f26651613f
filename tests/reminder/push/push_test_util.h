// Helpers for the push tests: fresh PEM keys (made with OpenSSL, nothing committed) and a JWT
// reader for checking what we put in a token (the signatures themselves are checked by
// push_endpoints.py with PyJWT, an independent implementation).
#ifndef LEGWISE_TESTS_REMINDER_PUSH_PUSH_TEST_UTIL_H_
#define LEGWISE_TESTS_REMINDER_PUSH_PUSH_TEST_UTIL_H_

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "services/common/logging.h"
#include "services/reminder/push/crypto.h"

namespace legwise::push::testing {

inline std::string PemOf(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, len);
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

// PKCS#8 PEM ("BEGIN PRIVATE KEY"), as an APNs .p8 file or a VAPID key from openssl genpkey.
inline std::string PemP256() { return PemOf(EVP_EC_gen("P-256")); }
inline std::string PemP384() { return PemOf(EVP_EC_gen("P-384")); }
inline std::string PemRsa(int bits = 2048) { return PemOf(EVP_RSA_gen(bits)); }

// A Google service-account JSON (as the console hands it out) with a fresh RSA key, whose
// token_uri is the loopback FCM endpoint's own token path on `port`.
inline std::string FcmServiceAccountJson(int port) {
  return absl::StrCat(
      R"({"type":"service_account","project_id":"legwise-test","private_key_id":"k1","private_key":")",
      JsonEscape(PemRsa()), R"(","client_email":"push@legwise-test.iam.gserviceaccount.com",)",
      R"("token_uri":"https://127.0.0.1:)", port, R"(/token"})");
}

// A JSON object parsed by protobuf's JSON parser (not ours).
inline google::protobuf::Struct Json(const std::string& text) {
  google::protobuf::Struct out;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &out).ok()) << text;
  return out;
}

inline std::string Str(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "<absent>" : it->second.string_value();
}

inline double Num(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? -1 : it->second.number_value();
}

inline const google::protobuf::Struct& Obj(const google::protobuf::Struct& s,
                                           const std::string& key) {
  static const google::protobuf::Struct* empty = new google::protobuf::Struct();
  auto it = s.fields().find(key);
  return it == s.fields().end() ? *empty : it->second.struct_value();
}

struct DecodedJwt {
  google::protobuf::Struct header;
  google::protobuf::Struct claims;
  std::string signature;
};

inline DecodedJwt DecodeJwt(const std::string& token) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  DecodedJwt out;
  EXPECT_EQ(parts.size(), 3u) << "not a compact JWS";
  if (parts.size() != 3) return out;
  std::string header, claims;
  EXPECT_TRUE(Base64UrlDecode(parts[0], &header));
  EXPECT_TRUE(Base64UrlDecode(parts[1], &claims));
  EXPECT_TRUE(Base64UrlDecode(parts[2], &out.signature));
  out.header = Json(header);
  out.claims = Json(claims);
  return out;
}

}  // namespace legwise::push::testing

#endif  // LEGWISE_TESTS_REMINDER_PUSH_PUSH_TEST_UTIL_H_
