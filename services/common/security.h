// Who is calling, and may they? TLS/mTLS credentials for servers and internal clients, bearer-JWT
// verification against a JWKS file (RS256 / ES256; issuer, audience, expiry, not-before, clock
// skew), caller identities, per-user authorization and per-caller rate limiting.
//
// Caller kinds:
//   user         a mobile user: a verified JWT whose scopes do not include the service scope; may
//   read
//                and change only her own reminder data (sub == user_id), and may call
//                triage/content.
//   service      an EHR or a legwise service: a verified mTLS client certificate, or a JWT carrying
//   the
//                service scope; may call triage and content, never a user's reminders.
//   development  no authentication configured at all (the server then listens on loopback only,
//                unless --insecure): everything is allowed, and the server logs that it is in
//                development mode.
#ifndef LEGWISE_SERVICES_COMMON_SECURITY_H_
#define LEGWISE_SERVICES_COMMON_SECURITY_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"
#include "services/common/config.h"

namespace legwise {

struct SecurityOptions {
  // Server TLS: PEM certificate chain and private key. Both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM CA bundle that client certificates (EHRs, other legwise services) must chain to. When set,
  // a client certificate is requested and, when presented, verified (mobile clients present none
  // and use a JWT instead).
  std::string tls_client_ca_file;
  // JWKS file with the public keys that sign user tokens; empty = no JWT authentication.
  std::string jwks_file;
  std::string jwt_issuer;
  std::string jwt_audience;
  absl::Duration jwt_clock_skew = absl::Seconds(60);
  // No token is accepted whose exp lies further than this past its iat, or past now.
  absl::Duration jwt_max_lifetime = absl::Hours(24);
  // A token with this scope (space-separated "scope" claim) identifies a service, not a user.
  std::string service_scope = "legwise.service";
  // Client certificates that identify a legwise service, comma-separated: each entry is matched
  // against the certificate's DNS/URI SANs and its CN. A certificate from the CA that matches none
  // is not a service (its call then needs a token). Empty: every certificate from the CA is a
  // service.
  std::string service_identities;
  // How often the TLS certificate, key and client CA files, and the JWKS file, are re-read: a
  // renewed certificate (cert-manager, a Secret update) or a new signing key is used without a
  // restart. SIGHUP re-reads the JWKS at once.
  absl::Duration tls_refresh_interval = absl::Seconds(5);
  absl::Duration jwks_refresh_interval = absl::Seconds(2);
  // Serve plaintext without authentication on non-loopback interfaces (never in production).
  bool insecure = false;
  // Per-caller rate limit: sustained requests per second and burst (services get ten times as
  // much); 0 disables.
  int rate_limit_per_second = 100;
  int rate_limit_burst = 200;
  // Failed authentications allowed per peer address (IPv4 address or IPv6 /64), sustained per
  // second and burst. Past them, that address's calls are refused before their credentials are
  // even parsed, let alone their signature checked, until the allowance refills; 0 disables.
  int auth_failures_per_second = 20;
  int auth_failure_burst = 200;

  // True when any way of authenticating callers is configured.
  bool authentication_configured() const {
    return !jwks_file.empty() || !tls_client_ca_file.empty();
  }
};

// --tls_cert_file, --tls_key_file, --tls_client_ca_file, --jwks_file, --jwt_issuer, --jwt_audience,
// --jwt_clock_skew, --jwt_max_lifetime, --service_scope, --service_identities, --insecure,
// --rate_limit_per_second, --rate_limit_burst, --auth_failures_per_second, --auth_failure_burst,
// --tls_refresh_interval, --jwks_refresh_interval.
void AddSecurityFlags(FlagSet* flags, SecurityOptions* options);

// Checks the options against the listen host: TLS files come in pairs and are readable, a JWKS file
// needs issuer and audience, and a server without authentication may only listen on loopback unless
// --insecure.
absl::Status ValidateSecurityOptions(const SecurityOptions& options,
                                     const std::string& listen_host);

// Server credentials for the options (TLS through gRPC's FileWatcherCertificateProvider, which
// re-reads the certificate, key and client CA every tls_refresh_interval: new handshakes get the
// renewed certificate, established connections keep theirs), or insecure credentials when no
// certificate is configured. The files are checked once here so a bad path fails at startup.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& options);

// Client side of internal calls (triage -> content, reminder -> content) and of legwisectl.
struct ClientTlsOptions {
  std::string ca_file;    // trust these CAs for the server certificate; empty = plaintext
  std::string cert_file;  // client certificate for mTLS (optional)
  std::string key_file;
  std::string server_name_override;  // expected name in the server certificate (tests)
};
// --<prefix>_tls_ca_file, --<prefix>_tls_cert_file, --<prefix>_tls_key_file.
void AddClientTlsFlags(FlagSet* flags, const std::string& prefix, ClientTlsOptions* options);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& options);

struct Caller {
  enum class Kind { kDevelopment, kUser, kService };
  Kind kind = Kind::kDevelopment;
  // JWT "sub" or certificate common name; for development, "dev".
  std::string subject;
};

// A JWKS-backed verifier of compact JWS tokens (RS256, ES256 only; "none" and HMAC are refused).
// Only signing keys are loaded: kty RSA (2048..8192 bits) or EC P-256, "use" absent or "sig", "alg"
// absent or the key type's algorithm, "key_ops" absent or holding "verify"; others are skipped.
class JwtVerifier {
 public:
  struct Claims {
    std::string subject;
    std::vector<std::string> scopes;
  };
  // Loads the keys from a JWKS document.
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> FromJwks(
      const std::string& jwks_json, std::string issuer, std::string audience,
      absl::Duration clock_skew, absl::Duration max_lifetime = absl::Hours(24));
  ~JwtVerifier();
  // Verifies iss, aud (string or array), exp, nbf, iat (whole seconds, with skew), the maximum
  // lifetime, no "crit" header, then the signature, at `now`. UNAUTHENTICATED with a reason that
  // never echoes the token.
  absl::StatusOr<Claims> Verify(const std::string& token, absl::Time now) const;

 private:
  struct Key;
  JwtVerifier() = default;
  std::vector<std::unique_ptr<Key>> keys_;
  std::string issuer_;
  std::string audience_;
  absl::Duration skew_;
  absl::Duration max_lifetime_;
};

// A key file that is watched: read through its path every `every` (it may be a symlink that
// Kubernetes swaps) and on ReloadAll (SIGHUP); when its content differs from what was last loaded,
// `load` gets the new content, and an error from it (or from reading) leaves what was loaded before
// in place. Reloads are counted in `metric`{result=ok|error} and logged as `<log_name>_reloaded` /
// `<log_name>_reload_failed` (never with the content). CallGuard watches --jwks_file with it, the
// gateway its --cds_client_jwks_file.
class WatchedKeyFile {
 public:
  struct Options {
    std::string path;
    std::string flag;      // for errors: "--jwks_file"
    std::string metric;    // a counter, described here
    std::string log_name;  // "jwks"
    absl::Duration every = absl::Seconds(2);
  };
  using Loader = std::function<absl::Status(const std::string& content)>;
  // Reads and loads the file once (its error is returned: a bad file fails at startup), then
  // watches it.
  static absl::StatusOr<std::unique_ptr<WatchedKeyFile>> Start(Options options, Loader load);
  ~WatchedKeyFile();
  WatchedKeyFile(const WatchedKeyFile&) = delete;
  WatchedKeyFile& operator=(const WatchedKeyFile&) = delete;

  // Re-reads the file now; loads it when it changed. An error leaves the loaded content.
  absl::Status Reload();
  // Reload on every live watched file (the SIGHUP hook).
  static void ReloadAll();

 private:
  WatchedKeyFile(Options options, Loader load)
      : options_(std::move(options)), load_(std::move(load)) {}
  const Options options_;
  const Loader load_;
  absl::Mutex mu_;  // one reload at a time
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  std::string content_ ABSL_GUARDED_BY(mu_);  // what was last loaded
  absl::Notification stop_;
  std::thread watcher_;
};

// A token bucket per caller key, bounded in memory.
class RateLimiter {
 public:
  RateLimiter(int per_second, int burst) : per_second_(per_second), burst_(burst) {}
  // True when the caller may make one more call now (and takes that token).
  bool Allow(const std::string& key, absl::Time now);
  // Whether `key` has a token left now, without taking it.
  bool HasToken(const std::string& key, absl::Time now);
  // Takes one token from `key` (none left: nothing changes).
  void Take(const std::string& key, absl::Time now) { Allow(key, now); }

 private:
  struct Bucket {
    double tokens;
    absl::Time last;
  };
  // The key's bucket, refilled up to `now`.
  Bucket& Refill(const std::string& key, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int per_second_;
  int burst_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

// The key a peer is limited by before it is authenticated: from gRPC's peer string
// ("ipv4:10.1.2.3:5555", "ipv6:[2001:db8::1]:443"), the IPv4 address or the IPv6 /64 prefix (one
// host usually holds a whole /64); other peers by their string without the port.
std::string PeerAddressKey(absl::string_view peer);

// Admits calls: refuses peers that failed authentication too often (before looking at their
// credentials), authenticates the caller (client certificate, bearer token, or development mode)
// and applies the rate limit. Every refusal is counted in legwise_call_refusals_total{reason}.
// Handlers call Admit() first and then the authorization check they need.
class CallGuard {
 public:
  // Loads the JWKS (if any) and watches it: the file is re-read every jwks_refresh_interval
  // (it may be a symlink that Kubernetes swaps) and on ReloadAll (SIGHUP); a file that does not
  // load leaves the current keys in place.
  static absl::StatusOr<std::unique_ptr<CallGuard>> Create(const SecurityOptions& options);
  ~CallGuard();
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;

  // Re-reads the JWKS file now (no-op without one); an error leaves the current keys.
  absl::Status ReloadJwks();
  // Reloads every watched key file (WatchedKeyFile::ReloadAll; the SIGHUP hook).
  static void ReloadAll();

  // UNAUTHENTICATED (no or bad credentials) or RESOURCE_EXHAUSTED (rate limit, reason
  // RATE_LIMITED; too many failed authentications from the peer, AUTH_FAILURES_FROM_PEER), else the
  // caller.
  absl::StatusOr<Caller> Admit(const grpc::ServerContextBase* context);

  bool development_mode() const { return !options_.authentication_configured(); }

 private:
  explicit CallGuard(SecurityOptions options)
      : options_(std::move(options)),
        limiter_(options_.rate_limit_per_second, options_.rate_limit_burst),
        service_limiter_(options_.rate_limit_per_second * 10, options_.rate_limit_burst * 10),
        auth_failures_(options_.auth_failures_per_second, options_.auth_failure_burst) {}
  absl::StatusOr<Caller> Authenticate(const grpc::ServerContextBase* context);
  // Whether a verified client certificate names one of --service_identities.
  bool IsServiceIdentity(const grpc::AuthContext& auth, std::string* identity) const;
  std::shared_ptr<const JwtVerifier> verifier() const;
  SecurityOptions options_;
  mutable absl::Mutex verifier_mu_;
  std::shared_ptr<const JwtVerifier> verifier_ ABSL_GUARDED_BY(verifier_mu_);
  std::unique_ptr<WatchedKeyFile> jwks_;  // --jwks_file, when set
  RateLimiter limiter_;                   // users and development callers
  RateLimiter service_limiter_;           // services: ten times the allowance
  RateLimiter auth_failures_;             // failed authentications, by peer address
};

// The audit trail of service calls: Admit notes the identity of a caller it authenticated as a
// service, and the server's interceptor takes it when the call ends and writes one "audit" line
// (caller, method, code; nothing about a person).
void NoteServiceCaller(const grpc::ServerContextBase* context, std::string identity);
std::optional<std::string> TakeServiceCaller(const grpc::ServerContextBase* context);

// Users may only touch their own data; services never touch a user's reminders. PERMISSION_DENIED.
absl::Status AuthorizeUserData(const Caller& caller, const std::string& user_id);

// Reads a secret (e.g. the Redis password): from the file when `file` is set, else from the
// environment variable `env_var`; "" when neither is set. Trailing newlines are dropped.
absl::StatusOr<std::string> ReadSecret(const std::string& file, const std::string& env_var);

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_SECURITY_H_
