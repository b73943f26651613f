// Test-time credentials: signing keys with their JWKS, signed JWTs (RS256 / ES256 / tampered /
// "none"), and a CA with server and client certificates made by openssl. Nothing private is
// committed.
#ifndef LEGWISE_TESTS_SUPPORT_TEST_KEYS_H_
#define LEGWISE_TESTS_SUPPORT_TEST_KEYS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace legwise::testing {

// A signing key (RSA, 2048 bits unless told, for RS256 or P-256 for ES256) generated in memory.
class SigningKey {
 public:
  static std::unique_ptr<SigningKey> Rsa(std::string kid, int bits = 2048);
  static std::unique_ptr<SigningKey> Ec(std::string kid);
  ~SigningKey();
  // This key as one JWK object (public part only).
  std::string JwkJson() const;
  // A compact JWS over `claims_json` with this key ("alg" RS256 or ES256, "kid"), with
  // `extra_header` (e.g. `"crit":["exp"]`) added to the protected header when not empty.
  std::string Sign(const std::string& claims_json, const std::string& extra_header = "") const;
  const std::string& kid() const { return kid_; }

 private:
  SigningKey() = default;
  std::string kid_;
  bool ec_ = false;
  void* pkey_ = nullptr;  // EVP_PKEY*
};

// {"keys":[...]} for the given keys.
std::string Jwks(const std::vector<const SigningKey*>& keys);

// Standard claims JSON: iss, aud, sub, exp = now + ttl, nbf = now - 1 s, optional scope.
std::string Claims(const std::string& issuer, const std::string& audience,
                   const std::string& subject, absl::Duration ttl, const std::string& scope = "",
                   absl::Time now = absl::Now());

// An unsigned token with "alg":"none".
std::string UnsignedToken(const std::string& claims_json);

// Writes `content` to `dir/name` and returns the path.
std::string WriteFile(const std::string& dir, const std::string& name, const std::string& content);

// A fresh temporary directory.
std::string TempDir(const std::string& prefix);

// A CA, a server certificate for 127.0.0.1/localhost, a client certificate from the CA (CN
// "ehr-client"), and a client certificate from an unrelated CA (untrusted), made with the openssl
// CLI in `dir`. Paths by name: ca.pem, server.pem, server.key, client.pem, client.key, rogue.pem,
// rogue.key.
absl::StatusOr<std::map<std::string, std::string>> MakeCertificates(const std::string& dir);

// Reads a whole file.
std::string ReadFileOrDie(const std::string& path);

}  // namespace legwise::testing

#endif  // LEGWISE_TESTS_SUPPORT_TEST_KEYS_H_
