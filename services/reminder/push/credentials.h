// The providers' credentials and the short-lived tokens made from them:
// - APNs token authentication: an ES256 JWT (kid = key id, iss = team id, iat) signed with the .p8
//   key, reused for at least 20 minutes and at most an hour (Apple refuses tokens older than an
//   hour, and answers TooManyProviderTokenUpdates to a provider that renews more often than every
//   20 minutes).
// - FCM HTTP v1: the OAuth 2.0 JWT-bearer grant (RFC 7523) from a service account's credentials
//   JSON, and the access token it returns, cached until shortly before it expires.
// - VAPID (RFC 8292): an ES256 JWT per push service origin (aud, exp, sub) and the "vapid" scheme
//   with k = the public key.
// None of these classes locks: the sender uses each from its one loop thread.
#ifndef LEGWISE_SERVICES_REMINDER_PUSH_CREDENTIALS_H_
#define LEGWISE_SERVICES_REMINDER_PUSH_CREDENTIALS_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/reminder/push/crypto.h"

namespace legwise::push {

// Reads a whole file (a key or a credentials JSON); NOT_FOUND naming the file when it cannot.
absl::StatusOr<std::string> ReadKeyFile(const std::string& path);

// --- APNs ---------------------------------------------------------------------------------------

struct ApnsCredentials {
  SigningKey key;       // the .p8 key (P-256)
  std::string key_id;   // 10 characters, from the developer account
  std::string team_id;  // 10 characters
};
// Loads --apns_key_file and checks the ids (10 letters or digits each).
absl::StatusOr<ApnsCredentials> LoadApnsCredentials(const std::string& key_file,
                                                    const std::string& key_id,
                                                    const std::string& team_id);

class ApnsTokenCache {
 public:
  // Apple's bounds on reusing one provider token.
  static constexpr absl::Duration kMinAge = absl::Minutes(20);
  static constexpr absl::Duration kMaxAge = absl::Minutes(60);

  // `refresh_after` is clamped into [kMinAge, kMaxAge - 5 minutes] (the margin absorbs clock skew
  // with Apple).
  explicit ApnsTokenCache(ApnsCredentials credentials,
                          absl::Duration refresh_after = absl::Minutes(50));
  // The current token, minted when there is none or the last is `refresh_after` old; *minted (when
  // given) says whether this call minted it. Thread-safe: one cache serves every sender loop, so
  // Apple sees one provider token per sender, not one per loop.
  absl::StatusOr<std::string> Get(absl::Time now, bool* minted = nullptr);
  // APNs answered ExpiredProviderToken: mint a new one next time, unless the current one is
  // younger than kMinAge (then renewing would only earn TooManyProviderTokenUpdates; the retry
  // backoff waits instead). Returns whether the token was dropped.
  bool Invalidate(absl::Time now);
  absl::Time issued_at() const {
    absl::MutexLock lock(&mu_);
    return issued_at_;
  }
  int minted() const {
    absl::MutexLock lock(&mu_);
    return minted_;
  }

 private:
  const ApnsCredentials credentials_;
  const absl::Duration refresh_after_;
  mutable absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time issued_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int minted_ ABSL_GUARDED_BY(mu_) = 0;
};

// --- FCM ----------------------------------------------------------------------------------------

struct FcmCredentials {
  std::string project_id;
  std::string client_email;
  std::string private_key_id;  // optional: the JWT's kid
  SigningKey private_key;      // RSA
  std::string token_uri;       // https
};
// Parses a service account's credentials JSON (--fcm_credentials_file). Errors name the missing or
// bad member, never its value.
absl::StatusOr<FcmCredentials> ParseFcmCredentials(absl::string_view json);

class FcmAccessToken {
 public:
  // The OAuth 2.0 scope FCM HTTP v1 needs.
  static constexpr absl::string_view kScope = "https://www.googleapis.com/auth/firebase.messaging";

  explicit FcmAccessToken(FcmCredentials credentials) : credentials_(std::move(credentials)) {}
  const FcmCredentials& credentials() const { return credentials_; }

  // The cached access token while it is still good at `now` (a margin before its expiry); "" when
  // a new one must be fetched.
  std::string Current(absl::Time now) const;
  // The token request body: application/x-www-form-urlencoded grant_type=...jwt-bearer and
  // assertion = an RS256 JWT (iss = client_email, scope, aud = token_uri, iat, exp = iat + 1 h).
  absl::StatusOr<std::string> GrantRequestBody(absl::Time now) const;
  // Takes the token endpoint's JSON answer ({"access_token", "expires_in", "token_type"}).
  absl::Status AcceptGrantResponse(absl::string_view json, absl::Time now);
  // FCM answered 401: fetch a new one.
  void Invalidate() { token_.clear(); }
  absl::Time expires_at() const { return expires_at_; }

 private:
  FcmCredentials credentials_;
  std::string token_;
  absl::Time expires_at_ = absl::InfinitePast();
  absl::Time refresh_at_ = absl::InfinitePast();
};

// --- VAPID --------------------------------------------------------------------------------------

struct VapidCredentials {
  SigningKey key;       // P-256 (--vapid_private_key_file)
  std::string subject;  // "mailto:..." or "https:..." (--vapid_subject)
};
absl::StatusOr<VapidCredentials> LoadVapidCredentials(const std::string& key_file,
                                                      const std::string& subject);

class VapidSigner {
 public:
  // Tokens live 12 hours (RFC 8292 allows at most 24) and are renewed when less than 1 hour is
  // left.
  static constexpr absl::Duration kLifetime = absl::Hours(12);
  static constexpr absl::Duration kRenewBefore = absl::Hours(1);
  // At most this many origins are cached (then the cache starts afresh).
  static constexpr size_t kMaxOrigins = 4096;

  explicit VapidSigner(VapidCredentials credentials);
  // The Authorization header value for a push service origin: "vapid t=<jwt>, k=<public key>".
  absl::StatusOr<std::string> Authorization(const std::string& origin, absl::Time now);
  // The application server key a browser subscribes with (base64url of the uncompressed point).
  const std::string& public_key() const { return public_key_; }

 private:
  struct Entry {
    std::string header;
    absl::Time expires;
  };
  VapidCredentials credentials_;
  std::string public_key_;
  absl::flat_hash_map<std::string, Entry> cache_;
};

}  // namespace legwise::push

#endif  // LEGWISE_SERVICES_REMINDER_PUSH_CREDENTIALS_H_
