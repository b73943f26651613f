#include "services/common/security.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "services/common/jose.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "services/common/validation.h"

namespace legwise {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// RSA keys accepted from a JWKS, in modulus bits.
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;

absl::Status Unauthenticated(absl::string_view why) {
  return WithErrorInfo(absl::UnauthenticatedError(why), "UNAUTHENTICATED");
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]" ||
         absl::StartsWith(host, "127.");
}

absl::StatusOr<google::protobuf::Struct> ParseJson(absl::string_view json) {
  google::protobuf::Struct out;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(json), &out);
  if (!status.ok()) return absl::InvalidArgumentError("malformed JSON");
  return out;
}

using jose::Base64UrlDecode;
using jose::StringField;

}  // namespace

struct JwtVerifier::Key {
  std::string kid;
  std::string alg;  // "RS256" or "ES256"
  jose::Pkey pkey;
};

JwtVerifier::~JwtVerifier() = default;

namespace {

// Why a JWK is not used to verify tokens ("" = usable). Checked before the key material is parsed:
// a key meant for encryption, or announced for another algorithm, never verifies a signature.
std::string KeyUnusableReason(const google::protobuf::Struct& jwk, const std::string& kty,
                              const std::string& alg) {
  if (kty != "RSA" && kty != "EC") return "kty not RSA or EC";
  if (kty == "EC" && StringField(jwk, "crv") != "P-256") return "EC curve not P-256";
  auto use = jwk.fields().find("use");
  if (use != jwk.fields().end() && StringField(jwk, "use") != "sig") return "use is not sig";
  auto key_alg = jwk.fields().find("alg");
  if (key_alg != jwk.fields().end() && StringField(jwk, "alg") != alg) {
    return absl::StrCat("alg is not ", alg);
  }
  if (auto ops = jwk.fields().find("key_ops"); ops != jwk.fields().end()) {
    bool verify = false;
    if (ops->second.has_list_value()) {
      for (const auto& op : ops->second.list_value().values()) {
        if (op.has_string_value() && op.string_value() == "verify") verify = true;
      }
    }
    if (!verify) return "key_ops has no verify";
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::FromJwks(const std::string& jwks_json,
                                                                   std::string issuer,
                                                                   std::string audience,
                                                                   absl::Duration clock_skew,
                                                                   absl::Duration max_lifetime) {
  absl::StatusOr<google::protobuf::Struct> jwks = ParseJson(jwks_json);
  if (!jwks.ok()) return absl::InvalidArgumentError("JWKS: malformed JSON");
  auto keys_it = jwks->fields().find("keys");
  if (keys_it == jwks->fields().end() || !keys_it->second.has_list_value()) {
    return absl::InvalidArgumentError("JWKS: no \"keys\" array");
  }
  std::unique_ptr<JwtVerifier> v(new JwtVerifier());
  v->issuer_ = std::move(issuer);
  v->audience_ = std::move(audience);
  v->skew_ = clock_skew;
  v->max_lifetime_ = max_lifetime;
  for (const auto& value : keys_it->second.list_value().values()) {
    if (!value.has_struct_value()) continue;
    const auto& jwk = value.struct_value();
    auto key = std::make_unique<Key>();
    key->kid = StringField(jwk, "kid");
    std::string kty = StringField(jwk, "kty");
    key->alg = kty == "RSA" ? "RS256" : "ES256";
    if (std::string why = KeyUnusableReason(jwk, kty, key->alg); !why.empty()) {
      // Skipped, never trusted; the kid is configuration (not caller input), cut to a safe length.
      LogWarning("jwks_key_skipped", {{"kid", key->kid.substr(0, 64)}, {"reason", why}});
      continue;
    }
    if (kty == "RSA") {
      std::string n, e;
      if (!Base64UrlDecode(StringField(jwk, "n"), &n) ||
          !Base64UrlDecode(StringField(jwk, "e"), &e) || n.empty() || e.empty() || e.size() > 8) {
        return absl::InvalidArgumentError(absl::StrCat("JWKS: bad RSA key ", key->kid));
      }
      key->pkey = jose::RsaPublicKey(n, e);
      // RSA under 2048 bits is breakable; over 8192 bits makes every verification costly.
      const int bits = key->pkey == nullptr ? 0 : EVP_PKEY_get_bits(key->pkey.get());
      if (key->pkey != nullptr && (bits < kMinRsaBits || bits > kMaxRsaBits)) {
        LogWarning(
            "jwks_key_skipped",
            {{"kid", key->kid.substr(0, 64)},
             {"reason", absl::StrCat("RSA modulus of ", bits, " bits (2048..8192 accepted)")}});
        continue;
      }
    } else {
      std::string x, y;
      if (!Base64UrlDecode(StringField(jwk, "x"), &x) ||
          !Base64UrlDecode(StringField(jwk, "y"), &y) || x.size() != 32 || y.size() != 32) {
        return absl::InvalidArgumentError(absl::StrCat("JWKS: bad EC key ", key->kid));
      }
      key->pkey = jose::EcPublicKey("prime256v1", x, y);
    }
    if (key->pkey == nullptr) continue;  // not a valid public key: skipped, not trusted
    v->keys_.push_back(std::move(key));
  }
  if (v->keys_.empty()) return absl::InvalidArgumentError("JWKS: no usable RS256/ES256 key");
  return v;
}

namespace {

// The last second a NumericDate may name (9999-12-31T23:59:59Z): far beyond any real token, and
// small enough that every arithmetic on it below stays inside int64 and absl::Time.
constexpr int64_t kMaxNumericDate = 253402300799;

// Reads a NumericDate claim (RFC 7519 2): absent = nullopt; present, it must be a JSON number that
// is a whole count of seconds in 0..kMaxNumericDate. A double outside int64 (1e19, 1e300) would
// make the cast undefined, so the range is checked on the double first.
absl::StatusOr<absl::optional<absl::Time>> NumericDate(const google::protobuf::Struct& payload,
                                                       const std::string& name) {
  auto it = payload.fields().find(name);
  if (it == payload.fields().end()) return absl::optional<absl::Time>();
  const double v = it->second.number_value();
  if (!it->second.has_number_value() || !std::isfinite(v) || v < 0 ||
      v > static_cast<double>(kMaxNumericDate) || v != std::floor(v)) {
    return Unauthenticated(absl::StrCat("token ", name, " is not a whole number of seconds"));
  }
  return absl::optional<absl::Time>(absl::FromUnixSeconds(static_cast<int64_t>(v)));
}

}  // namespace

absl::StatusOr<JwtVerifier::Claims> JwtVerifier::Verify(const std::string& token,
                                                        absl::Time now) const {
  jose::CompactJws jws;
  const jose::JwsSplit split =
      token.size() > 8192 ? jose::JwsSplit::kNotThreeParts : jose::SplitCompactJws(token, &jws);
  if (split == jose::JwsSplit::kNotThreeParts) return Unauthenticated("malformed token");
  if (split == jose::JwsSplit::kBadBase64) return Unauthenticated("malformed token encoding");
  absl::StatusOr<google::protobuf::Struct> header = ParseJson(jws.header_json);
  absl::StatusOr<google::protobuf::Struct> payload = ParseJson(jws.payload_json);
  if (!header.ok() || !payload.ok()) return Unauthenticated("malformed token JSON");
  std::string alg = StringField(*header, "alg");
  if (alg != "RS256" && alg != "ES256") return Unauthenticated("token algorithm not accepted");
  // RFC 7515 4.1.11: extensions listed in "crit" must be understood, and we understand none.
  if (header->fields().contains("crit")) {
    return Unauthenticated("token header has critical extensions (crit) not supported");
  }
  std::string kid = StringField(*header, "kid");

  // The claims are checked before the signature: they cost nothing, and a token that fails them
  // is refused without the expensive part. Nothing is accepted before the signature holds.
  if (StringField(*payload, "iss") != issuer_) return Unauthenticated("token issuer not accepted");
  if (!jose::AudienceContains(*payload, audience_))
    return Unauthenticated("token audience not accepted");
  absl::StatusOr<absl::optional<absl::Time>> exp = NumericDate(*payload, "exp");
  if (!exp.ok()) return exp.status();
  absl::StatusOr<absl::optional<absl::Time>> nbf = NumericDate(*payload, "nbf");
  if (!nbf.ok()) return nbf.status();
  absl::StatusOr<absl::optional<absl::Time>> iat = NumericDate(*payload, "iat");
  if (!iat.ok()) return iat.status();
  if (!exp->has_value()) return Unauthenticated("token has no expiry");
  if (**exp + skew_ < now) return Unauthenticated("token expired");
  if (nbf->has_value() && **nbf - skew_ > now) return Unauthenticated("token not valid yet");
  if (iat->has_value() && **iat - skew_ > now) return Unauthenticated("token issued in the future");
  // However it was issued, no token may stay valid longer than the maximum lifetime.
  if (**exp - now > max_lifetime_ + skew_ ||
      (iat->has_value() && **exp - **iat > max_lifetime_ + skew_)) {
    return Unauthenticated("token lifetime exceeds the maximum accepted");
  }
  Claims claims;
  claims.subject = StringField(*payload, "sub");
  if (claims.subject.empty()) return Unauthenticated("token has no subject");

  const std::string signed_part = jws.SigningInput();
  // JWS carries ES256 signatures as r||s, 32 bytes each.
  if (alg == "ES256" && jws.signature.size() != 64) {
    return Unauthenticated("bad token signature");
  }
  bool verified = false;
  for (const auto& key : keys_) {
    if (key->alg != alg || (!kid.empty() && !key->kid.empty() && key->kid != kid)) continue;
    verified = jose::VerifySignature(key->pkey.get(), EVP_sha256(), alg == "ES256" ? 32 : 0,
                                     signed_part, jws.signature);
    if (verified) break;
  }
  if (!verified) return Unauthenticated("token signature not valid");
  for (absl::string_view scope :
       absl::StrSplit(StringField(*payload, "scope"), ' ', absl::SkipEmpty())) {
    claims.scopes.emplace_back(scope);
  }
  return claims;
}

RateLimiter::Bucket& RateLimiter::Refill(const std::string& key, absl::Time now) {
  if (buckets_.size() > 100000) buckets_.clear();  // bounded memory; a reset only forgives
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{static_cast<double>(burst_), now});
  Bucket& b = it->second;
  b.tokens = std::min<double>(burst_, b.tokens + absl::ToDoubleSeconds(now - b.last) * per_second_);
  b.last = now;
  return b;
}

bool RateLimiter::HasToken(const std::string& key, absl::Time now) {
  if (per_second_ <= 0) return true;
  absl::MutexLock lock(&mu_);
  if (!buckets_.contains(key)) return true;  // a full bucket: not worth storing
  return Refill(key, now).tokens >= 1;
}

bool RateLimiter::Allow(const std::string& key, absl::Time now) {
  if (per_second_ <= 0) return true;
  absl::MutexLock lock(&mu_);
  Bucket& b = Refill(key, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void AddSecurityFlags(FlagSet* flags, SecurityOptions* o) {
  flags->AddString("tls_cert_file", &o->tls_cert_file,
                   "PEM server certificate chain (enables TLS).");
  flags->AddString("tls_key_file", &o->tls_key_file, "PEM server private key.");
  flags->AddString("tls_client_ca_file", &o->tls_client_ca_file,
                   "PEM CA bundle for client certificates (mTLS for EHRs and services).");
  flags->AddString("jwks_file", &o->jwks_file, "JWKS with the keys that sign user tokens.");
  flags->AddString("jwt_issuer", &o->jwt_issuer, "Required token issuer (iss).");
  flags->AddString("jwt_audience", &o->jwt_audience, "Required token audience (aud).");
  flags->AddDuration("jwt_clock_skew", &o->jwt_clock_skew,
                     "Clock skew allowed for exp, nbf and iat.");
  flags->AddDuration("jwt_max_lifetime", &o->jwt_max_lifetime,
                     "Longest validity a token may have (exp - iat, and exp - now).");
  flags->AddString("service_scope", &o->service_scope,
                   "Token scope that identifies a service (EHR) caller.");
  flags->AddString("service_identities", &o->service_identities,
                   "Comma-separated SANs or CNs of client certificates that identify services "
                   "(empty = every certificate from --tls_client_ca_file).");
  flags->AddDuration("tls_refresh_interval", &o->tls_refresh_interval,
                     "How often the TLS certificate, key and client CA are re-read.");
  flags->AddDuration("jwks_refresh_interval", &o->jwks_refresh_interval,
                     "How often --jwks_file is re-read (SIGHUP re-reads it at once).");
  flags->AddBool("insecure", &o->insecure,
                 "Allow plaintext without authentication on non-loopback interfaces (never in "
                 "production).");
  flags->AddInt("rate_limit_per_second", &o->rate_limit_per_second,
                "Sustained calls per second per caller (0 = no limit).", 0, 1000000);
  flags->AddInt("rate_limit_burst", &o->rate_limit_burst, "Burst of calls per caller.", 1, 1000000);
  flags->AddInt("auth_failures_per_second", &o->auth_failures_per_second,
                "Failed authentications per second allowed per peer address before its calls are "
                "refused unread (0 = no limit).",
                0, 1000000);
  flags->AddInt("auth_failure_burst", &o->auth_failure_burst,
                "Burst of failed authentications per peer address.", 1, 1000000);
}

absl::Status ValidateSecurityOptions(const SecurityOptions& o, const std::string& listen_host) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert_file and --tls_key_file go together");
  }
  if (!o.tls_client_ca_file.empty() && o.tls_cert_file.empty()) {
    return absl::InvalidArgumentError("--tls_client_ca_file needs --tls_cert_file/--tls_key_file");
  }
  if (!o.jwks_file.empty() && (o.jwt_issuer.empty() || o.jwt_audience.empty())) {
    return absl::InvalidArgumentError("--jwks_file needs --jwt_issuer and --jwt_audience");
  }
  if (!o.authentication_configured() && !IsLoopback(listen_host) && !o.insecure) {
    return absl::InvalidArgumentError(
        absl::StrCat("no authentication configured (--jwks_file or --tls_client_ca_file), so the "
                     "server may only "
                     "listen on loopback; --listen_host=",
                     listen_host, " needs --insecure to serve without authentication"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& o) {
  if (o.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadFile(o.tls_cert_file, "--tls_cert_file");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(o.tls_key_file, "--tls_key_file");
  if (!key.ok()) return key.status();
  if (!o.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(o.tls_client_ca_file, "--tls_client_ca_file");
    if (!ca.ok()) return ca.status();
  }
  const unsigned int refresh =
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(o.tls_refresh_interval)));
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (o.tls_client_ca_file.empty()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        o.tls_key_file, o.tls_cert_file, refresh);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        o.tls_key_file, o.tls_cert_file, o.tls_client_ca_file, refresh);
  }
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!o.tls_client_ca_file.empty()) {
    tls.watch_root_certs();
    // Mobile clients present no certificate (they use a JWT); a certificate that is presented must
    // chain to the CA, or the handshake fails.
    tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

void AddClientTlsFlags(FlagSet* flags, const std::string& prefix, ClientTlsOptions* o) {
  flags->AddString(prefix + "_tls_ca_file", &o->ca_file,
                   "PEM CA that signs " + prefix + "'s certificate (enables TLS to it).");
  flags->AddString(prefix + "_tls_cert_file", &o->cert_file,
                   "PEM client certificate for mTLS to " + prefix + ".");
  flags->AddString(prefix + "_tls_key_file", &o->key_file,
                   "PEM client key for mTLS to " + prefix + ".");
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& o) {
  if (o.ca_file.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadFile(o.ca_file, "TLS CA file");
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (!o.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(o.cert_file, "TLS client certificate");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(o.key_file, "TLS client key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

namespace {
absl::Mutex g_service_callers_mu;
absl::flat_hash_map<const grpc::ServerContextBase*, std::string>* g_service_callers ABSL_GUARDED_BY(
    g_service_callers_mu) = new absl::flat_hash_map<const grpc::ServerContextBase*, std::string>();
}  // namespace

void NoteServiceCaller(const grpc::ServerContextBase* context, std::string identity) {
  absl::MutexLock lock(&g_service_callers_mu);
  if (identity.size() > 256) identity.resize(256);  // a certificate name or token subject
  (*g_service_callers)[context] = std::move(identity);
}

std::optional<std::string> TakeServiceCaller(const grpc::ServerContextBase* context) {
  absl::MutexLock lock(&g_service_callers_mu);
  auto it = g_service_callers->find(context);
  if (it == g_service_callers->end()) return std::nullopt;
  std::string identity = std::move(it->second);
  g_service_callers->erase(it);
  return identity;
}

namespace {
absl::Mutex g_watched_mu;
absl::flat_hash_set<WatchedKeyFile*>* g_watched ABSL_GUARDED_BY(g_watched_mu) =
    new absl::flat_hash_set<WatchedKeyFile*>();
}  // namespace

absl::StatusOr<std::unique_ptr<WatchedKeyFile>> WatchedKeyFile::Start(Options options,
                                                                      Loader load) {
  Metrics::Default().Describe(options.metric, "counter",
                              absl::StrCat("Changes of ", options.flag, " seen, by result."));
  std::unique_ptr<WatchedKeyFile> file(new WatchedKeyFile(std::move(options), std::move(load)));
  if (absl::Status s = file->Reload(); !s.ok()) return s;
  WatchedKeyFile* f = file.get();
  const absl::Duration every = std::max(f->options_.every, absl::Milliseconds(100));
  file->watcher_ = std::thread([f, every] {
    while (!f->stop_.WaitForNotificationWithTimeout(every)) f->Reload().IgnoreError();
  });
  absl::MutexLock lock(&g_watched_mu);
  g_watched->insert(file.get());
  return file;
}

WatchedKeyFile::~WatchedKeyFile() {
  {
    absl::MutexLock lock(&g_watched_mu);
    g_watched->erase(this);
  }
  stop_.Notify();
  if (watcher_.joinable()) watcher_.join();
}

void WatchedKeyFile::ReloadAll() {
  absl::MutexLock lock(&g_watched_mu);
  for (WatchedKeyFile* f : *g_watched) f->Reload().IgnoreError();
}

absl::Status WatchedKeyFile::Reload() {
  // Read through the path every time: Kubernetes replaces a mounted ConfigMap by swapping a
  // symlink, so the file behind the name changes while the name stays.
  absl::StatusOr<std::string> content = ReadFile(options_.path, options_.flag);
  absl::MutexLock lock(&mu_);
  const bool first = !loaded_;
  if (content.ok() && !first && *content == content_) return absl::OkStatus();  // unchanged
  absl::Status status = content.ok() ? load_(*content) : content.status();
  if (!status.ok()) {
    if (!first) {
      Metrics::Default().Increment(options_.metric, {{"result", "error"}});
      LogError(absl::StrCat(options_.log_name, "_reload_failed"),
               {{"error", std::string(status.message())}, {"kept", "the keys loaded before"}});
    }
    return status;
  }
  loaded_ = true;
  content_ = *std::move(content);
  if (!first) {
    Metrics::Default().Increment(options_.metric, {{"result", "ok"}});
    LogInfo(absl::StrCat(options_.log_name, "_reloaded"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CallGuard>> CallGuard::Create(const SecurityOptions& options) {
  Metrics::Default().Describe("legwise_call_refusals_total", "counter",
                              "Calls refused before their handler ran, by reason.");
  std::unique_ptr<CallGuard> guard(new CallGuard(options));
  if (!options.jwks_file.empty()) {
    CallGuard* g = guard.get();
    WatchedKeyFile::Options file;
    file.path = options.jwks_file;
    file.flag = "--jwks_file";
    file.metric = "legwise_jwks_reloads_total";
    file.log_name = "jwks";
    file.every = options.jwks_refresh_interval;
    absl::StatusOr<std::unique_ptr<WatchedKeyFile>> jwks =
        WatchedKeyFile::Start(std::move(file), [g](const std::string& content) -> absl::Status {
          const SecurityOptions& o = g->options_;
          absl::StatusOr<std::unique_ptr<JwtVerifier>> v = JwtVerifier::FromJwks(
              content, o.jwt_issuer, o.jwt_audience, o.jwt_clock_skew, o.jwt_max_lifetime);
          if (!v.ok()) return v.status();
          absl::MutexLock lock(&g->verifier_mu_);
          g->verifier_ = *std::move(v);
          return absl::OkStatus();
        });
    if (!jwks.ok()) return jwks.status();
    guard->jwks_ = *std::move(jwks);
  }
  return guard;
}

CallGuard::~CallGuard() = default;

void CallGuard::ReloadAll() { WatchedKeyFile::ReloadAll(); }

absl::Status CallGuard::ReloadJwks() {
  if (jwks_ == nullptr) return absl::OkStatus();
  return jwks_->Reload();
}

std::shared_ptr<const JwtVerifier> CallGuard::verifier() const {
  absl::MutexLock lock(&verifier_mu_);
  return verifier_;
}

bool CallGuard::IsServiceIdentity(const grpc::AuthContext& auth, std::string* identity) const {
  std::vector<grpc::string_ref> cn = auth.FindPropertyValues("x509_common_name");
  if (options_.service_identities.empty()) {
    *identity = cn.empty() ? "service" : std::string(cn[0].data(), cn[0].size());
    return true;
  }
  std::vector<std::string> names;
  for (const char* property : {"x509_subject_alternative_name", "peer_dns", "x509_common_name"}) {
    for (const grpc::string_ref& v : auth.FindPropertyValues(property)) {
      names.emplace_back(v.data(), v.size());
    }
  }
  for (absl::string_view want :
       absl::StrSplit(options_.service_identities, ',', absl::SkipEmpty())) {
    want = absl::StripAsciiWhitespace(want);
    for (const std::string& name : names) {
      if (name == want) {
        *identity = name;
        return true;
      }
    }
  }
  return false;
}

namespace {

// Counts one refusal by reason; the interceptor logs a sample of the failed calls.
absl::Status Refused(absl::string_view reason, absl::Status status) {
  Metrics::Default().Increment("legwise_call_refusals_total", {{"reason", std::string(reason)}});
  return status;
}

}  // namespace

std::string PeerAddressKey(absl::string_view peer) {
  if (absl::ConsumePrefix(&peer, "ipv4:")) return std::string(peer.substr(0, peer.rfind(':')));
  if (absl::ConsumePrefix(&peer, "ipv6:")) {
    absl::string_view host = peer.substr(0, peer.rfind(':'));
    absl::ConsumePrefix(&host, "[");
    absl::ConsumeSuffix(&host, "]");
    host = host.substr(0, host.find('%'));  // zone id
    in6_addr addr{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1) return std::string(host);
    if (IN6_IS_ADDR_V4MAPPED(&addr)) {
      return absl::StrFormat("%d.%d.%d.%d", addr.s6_addr[12], addr.s6_addr[13], addr.s6_addr[14],
                             addr.s6_addr[15]);
    }
    std::string key;
    for (int i = 0; i < 8; i += 2) {
      absl::StrAppendFormat(&key, "%x:", (addr.s6_addr[i] << 8) | addr.s6_addr[i + 1]);
    }
    return absl::StrCat(key, ":/64");
  }
  return std::string(peer.substr(0, peer.rfind(':')));
}

absl::StatusOr<Caller> CallGuard::Admit(const grpc::ServerContextBase* context) {
  const absl::Time now = absl::Now();
  if (!options_.authentication_configured()) {
    Caller caller;
    caller.kind = Caller::Kind::kDevelopment;
    // Development callers are told apart by address for rate limiting.
    caller.subject = PeerAddressKey(context->peer());
    if (!limiter_.Allow(caller.subject, now)) {
      return Refused("rate_limited",
                     WithErrorInfo(absl::ResourceExhaustedError("rate limit exceeded; retry later"),
                                   "RATE_LIMITED"));
    }
    return caller;
  }
  // A peer that keeps failing is refused at the cost of one lookup, before any token is parsed.
  const std::string peer = PeerAddressKey(context->peer());
  if (!auth_failures_.HasToken(peer, now)) {
    return Refused("auth_failures_from_peer",
                   WithErrorInfo(absl::ResourceExhaustedError(
                                     "too many failed authentications from this address; retry "
                                     "later with valid credentials"),
                                 "AUTH_FAILURES_FROM_PEER"));
  }
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) {
    auth_failures_.Take(peer, now);
    return Refused("unauthenticated", caller.status());
  }
  if (caller->kind == Caller::Kind::kService) NoteServiceCaller(context, caller->subject);
  // Services (EHRs, triage calling content) carry many users' traffic: they get ten times the
  // per-caller allowance of a user.
  RateLimiter& limiter = caller->kind == Caller::Kind::kService ? service_limiter_ : limiter_;
  if (!limiter.Allow(caller->subject, now)) {
    return Refused("rate_limited",
                   WithErrorInfo(absl::ResourceExhaustedError("rate limit exceeded; retry later"),
                                 "RATE_LIMITED"));
  }
  return caller;
}

absl::StatusOr<Caller> CallGuard::Authenticate(const grpc::ServerContextBase* context) {
  Caller caller;
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  const auto& md = context->client_metadata();
  auto bearer = md.find("authorization");
  if (auth != nullptr && auth->IsPeerAuthenticated() && !options_.tls_client_ca_file.empty()) {
    // A client certificate that chained to our client CA and names a service identity: an EHR
    // or a legwise service. Any other certificate from the CA proves nothing more than TLS does:
    // the call then needs a token like any other.
    std::string identity;
    if (IsServiceIdentity(*auth, &identity)) {
      caller.kind = Caller::Kind::kService;
      caller.subject = std::move(identity);
      return caller;
    }
  }
  if (bearer == md.end()) {
    return Unauthenticated("credentials required: a Bearer token or a client certificate");
  }
  std::shared_ptr<const JwtVerifier> verifier = this->verifier();
  if (verifier == nullptr) return Unauthenticated("bearer tokens are not accepted here");
  absl::string_view value(bearer->second.data(), bearer->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ") && !absl::ConsumePrefix(&value, "bearer ")) {
    return Unauthenticated("authorization must be a Bearer token");
  }
  absl::StatusOr<JwtVerifier::Claims> claims = verifier->Verify(std::string(value), absl::Now());
  if (!claims.ok()) return claims.status();
  bool is_service = std::find(claims->scopes.begin(), claims->scopes.end(),
                              options_.service_scope) != claims->scopes.end();
  caller.kind = is_service ? Caller::Kind::kService : Caller::Kind::kUser;
  caller.subject = claims->subject;
  return caller;
}

absl::Status AuthorizeUserData(const Caller& caller, const std::string& user_id) {
  switch (caller.kind) {
    case Caller::Kind::kDevelopment:
      return absl::OkStatus();
    case Caller::Kind::kUser:
      if (caller.subject == user_id) return absl::OkStatus();
      return WithErrorInfo(absl::PermissionDeniedError("a user may only access her own reminders"),
                           "NOT_OWNER");
    case Caller::Kind::kService:
      return WithErrorInfo(
          absl::PermissionDeniedError("services may not access a user's reminders"),
          "SERVICE_NOT_ALLOWED");
  }
  return absl::PermissionDeniedError("unknown caller");
}

absl::StatusOr<std::string> ReadSecret(const std::string& file, const std::string& env_var) {
  std::string value;
  if (!file.empty()) {
    absl::StatusOr<std::string> content = ReadFile(file, "secret file");
    if (!content.ok()) return content.status();
    value = *content;
  } else if (const char* env = std::getenv(env_var.c_str())) {
    value = env;
  }
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

}  // namespace legwise
