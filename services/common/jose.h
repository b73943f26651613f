// The JOSE pieces every bearer-token verifier in the suite shares: base64url, JWK public keys
// (RSA, EC) built through OpenSSL 3's parameter API, compact-JWS splitting, JWS signature checks
// (RSxxx, ESxxx with the r||s signature form of RFC 7518 3.4) and the aud claim. Policy (which
// algorithms, curves and key sizes a verifier trusts, and what it tells the caller) stays with the
// verifier: JwtVerifier (user and service tokens) and the gateway's CdsClientVerifier (EHRs).
#ifndef LEGWISE_SERVICES_COMMON_JOSE_H_
#define LEGWISE_SERVICES_COMMON_JOSE_H_

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace legwise::jose {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// base64url (RFC 4648 5). With `refuse_padding`, '=' anywhere fails (RFC 7515 2 leaves it out).
bool Base64UrlDecode(absl::string_view in, std::string* out, bool refuse_padding = false);

// The string member `name` of `s`, "" when absent or not a string.
std::string StringField(const google::protobuf::Struct& s, const std::string& name);

// An RSA public key from the JWK's decoded "n" and "e" (big-endian bytes); null when OpenSSL
// refuses them. The caller checks the size it accepts (EVP_PKEY_get_bits).
Pkey RsaPublicKey(const std::string& n, const std::string& e);
// An EC public key on `group` ("prime256v1", "secp384r1") from the JWK's decoded "x" and "y";
// null when the point is not on the curve.
Pkey EcPublicKey(const char* group, const std::string& x, const std::string& y);

// A compact JWS split into its three parts, decoded. The parts point into the token.
struct CompactJws {
  absl::string_view encoded_header;
  absl::string_view encoded_payload;
  std::string header_json;
  std::string payload_json;
  std::string signature;
  // BASE64URL(header) "." BASE64URL(payload): what the signature covers.
  std::string SigningInput() const;
};
enum class JwsSplit { kOk, kNotThreeParts, kBadBase64 };
JwsSplit SplitCompactJws(absl::string_view token, CompactJws* out, bool refuse_padding = false);

// Whether `signature` over `signing_input` verifies with `key` and `digest`. `ec_component_bytes`
// is 0 for RSA PKCS#1 v1.5, or the size of r and s for ECDSA (32 for ES256, 48 for ES384): JWS
// carries r||s and OpenSSL wants a DER ECDSA-Sig-Value, so a signature of another size fails.
bool VerifySignature(EVP_PKEY* key, const EVP_MD* digest, int ec_component_bytes,
                     absl::string_view signing_input, const std::string& signature);

// Whether the "aud" claim (a string, or an array of strings) names `audience`.
bool AudienceContains(const google::protobuf::Struct& claims, const std::string& audience);

}  // namespace legwise::jose

#endif  // LEGWISE_SERVICES_COMMON_JOSE_H_
