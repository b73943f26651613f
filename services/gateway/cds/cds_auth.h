// Trusting CDS clients (CDS Hooks 2.0, "Trusting CDS Clients"): the EHR sends
// `Authorization: Bearer <JWT>` signed with its own key. We accept ES384 and RS384 only, `iss` in
// --cds_client_issuers, the key from --cds_client_jwks_file by `kid` (a key per issuer is not
// required by the spec; the kid must be in our file), `aud` equal to the CDS service URL under
// --public_base_url, `exp` in the future and at most 5 minutes ahead, `iat` not in the future, and
// a `jti` never seen before within its lifetime (a bounded replay cache).
#ifndef LEGWISE_SERVICES_GATEWAY_CDS_CDS_AUTH_H_
#define LEGWISE_SERVICES_GATEWAY_CDS_CDS_AUTH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace legwise::gateway {

class CdsClientVerifier {
 public:
  struct Client {
    std::string issuer;
    std::string jti;
  };
  // `jwks_json`: {"keys":[...]} with EC P-384 (ES384) and RSA >= 2048 bits (RS384) public keys,
  // each with a kid. `max_jtis` bounds the replay cache; when full, new tokens are refused
  // (RESOURCE_EXHAUSTED) rather than forgetting a jti that is still valid.
  static absl::StatusOr<std::unique_ptr<CdsClientVerifier>> Create(const std::string& jwks_json,
                                                                   std::vector<std::string> issuers,
                                                                   size_t max_jtis = 100000);
  ~CdsClientVerifier();

  // Replaces the keys with those of `jwks_json` (same rules as Create); on error the current keys
  // stay. The replay cache is kept: a jti seen under the old keys stays refused.
  absl::Status ReplaceKeys(const std::string& jwks_json);

  // Verifies `authorization` (the whole header value) for a call to `audience` at `now`.
  // UNAUTHENTICATED with a reason that never echoes the token.
  absl::StatusOr<Client> Verify(const std::string& authorization, const std::string& audience,
                                absl::Time now);

  static constexpr absl::Duration kMaxLifetime = absl::Minutes(5);
  static constexpr absl::Duration kClockSkew = absl::Seconds(30);

 private:
  struct Key;
  using KeySet = absl::flat_hash_map<std::string, std::unique_ptr<Key>>;  // by kid
  static absl::StatusOr<std::shared_ptr<const KeySet>> ParseKeys(const std::string& jwks_json);
  CdsClientVerifier() = default;
  std::shared_ptr<const KeySet> keys() const;
  mutable absl::Mutex keys_mu_;
  std::shared_ptr<const KeySet> keys_ ABSL_GUARDED_BY(keys_mu_);
  absl::flat_hash_set<std::string> issuers_;
  size_t max_jtis_ = 0;
  absl::Mutex mu_;
  // jti -> its exp; entries are dropped once expired.
  absl::flat_hash_map<std::string, absl::Time> seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace legwise::gateway

#endif  // LEGWISE_SERVICES_GATEWAY_CDS_CDS_AUTH_H_
