// The cryptography push delivery needs, on OpenSSL: base64url, SHA-256, P-256 and RSA signing keys
// for the providers' JWTs (APNs and VAPID ES256, the FCM service-account grant RS256), and RFC 8291
// Web Push message encryption (ECDH P-256 + HKDF-SHA-256 + AES-128-GCM, "aes128gcm" of RFC 8188).
#ifndef LEGWISE_SERVICES_REMINDER_PUSH_CRYPTO_H_
#define LEGWISE_SERVICES_REMINDER_PUSH_CRYPTO_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace legwise::push {

// Base64url without padding (RFC 4648 section 5), as JWTs and PushSubscription.toJSON() write it.
std::string Base64UrlEncode(absl::string_view in);
// Strict base64url: only A-Z a-z 0-9 - _ , with optional '=' padding at the end; false for anything
// else (standard base64's + and / included).
bool Base64UrlDecode(absl::string_view in, std::string* out);

std::string Sha256(absl::string_view in);

// True when `point` is an uncompressed SEC1 point (0x04 || X || Y, 65 bytes) on the P-256 curve.
bool IsP256UncompressedPoint(absl::string_view point);

// A private signing key: EC P-256 (ES256) or RSA (RS256). Cheap to copy (shared, immutable).
class SigningKey {
 public:
  enum class Type { kEcP256, kRsa };

  // PEM: PKCS#8 ("BEGIN PRIVATE KEY": an APNs .p8 file, a service account's private_key, a VAPID
  // key from `openssl genpkey`) or SEC1 ("BEGIN EC PRIVATE KEY", `openssl ecparam -genkey`). EC
  // keys must be on P-256; RSA keys 2048 bits or more.
  static absl::StatusOr<SigningKey> FromPem(absl::string_view pem);
  // A fresh P-256 key.
  static absl::StatusOr<SigningKey> GenerateP256();
  // A P-256 key from its 32-byte private scalar and 65-byte public point (published test vectors).
  static absl::StatusOr<SigningKey> P256FromParts(absl::string_view private_scalar,
                                                  absl::string_view public_point);

  Type type() const { return type_; }
  // "ES256" or "RS256".
  absl::string_view jwt_alg() const { return type_ == Type::kEcP256 ? "ES256" : "RS256"; }
  // The uncompressed public point (65 bytes) of an EC key; "" for RSA.
  std::string PublicPoint() const;
  // The JWS signature of `input` (ES256: r || s, 64 bytes; RS256: PKCS#1 v1.5 over SHA-256).
  absl::StatusOr<std::string> Sign(absl::string_view input) const;
  // ECDH with a peer's uncompressed P-256 point: the 32-byte shared x coordinate.
  absl::StatusOr<std::string> DeriveSharedSecret(absl::string_view peer_point) const;

 private:
  std::shared_ptr<void> pkey_;  // EVP_PKEY
  Type type_ = Type::kEcP256;
};

// A compact JWS: base64url(header) . base64url(claims) . base64url(signature). `header_json` must
// name the key's algorithm.
absl::StatusOr<std::string> SignJwt(const SigningKey& key, absl::string_view header_json,
                                    absl::string_view claims_json);

// RFC 8291: the largest plaintext that fits the single 4096-byte record we send (4096 minus the
// 86-byte header, the 16-byte tag and the 1-byte delimiter).
inline constexpr size_t kMaxWebPushPlaintext = 4096 - 86 - 16 - 1;

// Encrypts `plaintext` for a subscription's p256dh point and 16-byte auth secret (RFC 8291): a
// fresh ephemeral key pair and a fresh 16-byte salt for every message, one aes128gcm record with
// rs = 4096. Returns the request body (salt || rs || idlen || as_public || ciphertext).
absl::StatusOr<std::string> EncryptWebPush(absl::string_view plaintext, absl::string_view ua_public,
                                           absl::string_view auth_secret);
// The same with the ephemeral key and salt given (deterministic, for RFC 8291 Appendix A).
absl::StatusOr<std::string> EncryptWebPushWith(absl::string_view plaintext,
                                               absl::string_view ua_public,
                                               absl::string_view auth_secret,
                                               const SigningKey& as_key, absl::string_view salt);

}  // namespace legwise::push

#endif  // LEGWISE_SERVICES_REMINDER_PUSH_CRYPTO_H_
