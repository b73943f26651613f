#include "services/reminder/push/credentials.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "services/common/logging.h"

namespace legwise::push {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

bool IsTenAlnum(absl::string_view id) {
  if (id.size() != 10) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c)) return false;
  }
  return true;
}

absl::StatusOr<Struct> ParseObject(absl::string_view json, absl::string_view what) {
  Struct out;
  if (json.size() > 64 * 1024 ||
      !google::protobuf::util::JsonStringToMessage(std::string(json), &out).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a JSON object"));
  }
  return out;
}

std::string StringMember(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end() || it->second.kind_case() != Value::kStringValue) return "";
  return it->second.string_value();
}

}  // namespace

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  if (s.str().size() > 64 * 1024)
    return absl::InvalidArgumentError(absl::StrCat(path, " is too large"));
  return s.str();
}

// --- APNs ---------------------------------------------------------------------------------------

absl::StatusOr<ApnsCredentials> LoadApnsCredentials(const std::string& key_file,
                                                    const std::string& key_id,
                                                    const std::string& team_id) {
  if (!IsTenAlnum(key_id)) {
    return absl::InvalidArgumentError("--apns_key_id must be 10 letters or digits");
  }
  if (!IsTenAlnum(team_id)) {
    return absl::InvalidArgumentError("--apns_team_id must be 10 letters or digits");
  }
  absl::StatusOr<std::string> pem = ReadKeyFile(key_file);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<SigningKey> key = SigningKey::FromPem(*pem);
  if (!key.ok())
    return absl::InvalidArgumentError(absl::StrCat("--apns_key_file: ", key.status().message()));
  if (key->type() != SigningKey::Type::kEcP256) {
    return absl::InvalidArgumentError("--apns_key_file must hold a P-256 key (.p8)");
  }
  return ApnsCredentials{*std::move(key), key_id, team_id};
}

ApnsTokenCache::ApnsTokenCache(ApnsCredentials credentials, absl::Duration refresh_after)
    : credentials_(std::move(credentials)),
      refresh_after_(std::clamp(refresh_after, kMinAge, kMaxAge - absl::Minutes(5))) {}

absl::StatusOr<std::string> ApnsTokenCache::Get(absl::Time now, bool* minted) {
  if (minted != nullptr) *minted = false;
  absl::MutexLock lock(&mu_);
  // A clock that went backwards also renews (the token's iat would be in the future).
  if (!token_.empty() && now >= issued_at_ && now - issued_at_ < refresh_after_) return token_;
  int64_t iat = absl::ToUnixSeconds(now);
  absl::StatusOr<std::string> jwt = SignJwt(
      credentials_.key, absl::StrCat(R"({"alg":"ES256","kid":")", credentials_.key_id, R"("})"),
      absl::StrCat(R"({"iss":")", credentials_.team_id, R"(","iat":)", iat, "}"));
  if (!jwt.ok()) return jwt.status();
  token_ = *std::move(jwt);
  issued_at_ = absl::FromUnixSeconds(iat);
  ++minted_;
  if (minted != nullptr) *minted = true;
  return token_;
}

bool ApnsTokenCache::Invalidate(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (token_.empty() || now - issued_at_ < kMinAge) return false;
  token_.clear();
  return true;
}

// --- FCM ----------------------------------------------------------------------------------------

absl::StatusOr<FcmCredentials> ParseFcmCredentials(absl::string_view json) {
  absl::StatusOr<Struct> root = ParseObject(json, "--fcm_credentials_file");
  if (!root.ok()) return root.status();
  std::string type = StringMember(*root, "type");
  if (!type.empty() && type != "service_account") {
    return absl::InvalidArgumentError("--fcm_credentials_file: type must be service_account");
  }
  FcmCredentials out;
  out.project_id = StringMember(*root, "project_id");
  out.client_email = StringMember(*root, "client_email");
  out.private_key_id = StringMember(*root, "private_key_id");
  out.token_uri = StringMember(*root, "token_uri");
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"project_id", &out.project_id},
        {"client_email", &out.client_email},
        {"token_uri", &out.token_uri}}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--fcm_credentials_file: ", name, " is required"));
    }
  }
  // The project id goes into the send URL's path: Google's ids are lower-case letters, digits and
  // hyphens.
  for (char c : out.project_id) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') {
      return absl::InvalidArgumentError("--fcm_credentials_file: project_id is malformed");
    }
  }
  if (!absl::StartsWith(out.token_uri, "https://")) {
    return absl::InvalidArgumentError("--fcm_credentials_file: token_uri must be https");
  }
  absl::StatusOr<SigningKey> key = SigningKey::FromPem(StringMember(*root, "private_key"));
  if (!key.ok() || key->type() != SigningKey::Type::kRsa) {
    return absl::InvalidArgumentError("--fcm_credentials_file: private_key must be an RSA PEM key");
  }
  out.private_key = *std::move(key);
  return out;
}

std::string FcmAccessToken::Current(absl::Time now) const {
  return now < refresh_at_ ? token_ : "";
}

absl::StatusOr<std::string> FcmAccessToken::GrantRequestBody(absl::Time now) const {
  int64_t iat = absl::ToUnixSeconds(now);
  std::string header = credentials_.private_key_id.empty()
                           ? std::string(R"({"alg":"RS256","typ":"JWT"})")
                           : absl::StrCat(R"({"alg":"RS256","typ":"JWT","kid":")",
                                          JsonEscape(credentials_.private_key_id), R"("})");
  std::string claims =
      absl::StrCat(R"({"iss":")", JsonEscape(credentials_.client_email), R"(","scope":")", kScope,
                   R"(","aud":")", JsonEscape(credentials_.token_uri), R"(","iat":)", iat,
                   R"(,"exp":)", iat + 3600, "}");
  absl::StatusOr<std::string> jwt = SignJwt(credentials_.private_key, header, claims);
  if (!jwt.ok()) return jwt.status();
  // The JWT is base64url and dots: nothing in it needs percent-encoding.
  return absl::StrCat("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=",
                      *jwt);
}

absl::Status FcmAccessToken::AcceptGrantResponse(absl::string_view json, absl::Time now) {
  absl::StatusOr<Struct> root = ParseObject(json, "the token response");
  if (!root.ok()) return root.status();
  std::string token = StringMember(*root, "access_token");
  auto expires = root->fields().find("expires_in");
  if (token.empty() || token.size() > 4096 || expires == root->fields().end() ||
      expires->second.kind_case() != Value::kNumberValue || expires->second.number_value() <= 0) {
    return absl::InvalidArgumentError("the token response has no access_token or expires_in");
  }
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return absl::InvalidArgumentError("the access token is not printable ASCII");
    }
  }
  absl::Duration lifetime = absl::Seconds(std::min(expires->second.number_value(), 86400.0));
  token_ = std::move(token);
  expires_at_ = now + lifetime;
  // Renew a minute early (a tenth of the lifetime for short ones), so no send races the expiry.
  refresh_at_ = expires_at_ - std::min(absl::Minutes(1), lifetime / 10);
  return absl::OkStatus();
}

// --- VAPID --------------------------------------------------------------------------------------

absl::StatusOr<VapidCredentials> LoadVapidCredentials(const std::string& key_file,
                                                      const std::string& subject) {
  if (!absl::StartsWith(subject, "mailto:") && !absl::StartsWith(subject, "https:")) {
    return absl::InvalidArgumentError("--vapid_subject must be a mailto: or https: URI");
  }
  for (char c : subject) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f ||
        c == '"' || c == '\\') {
      return absl::InvalidArgumentError("--vapid_subject must be a plain ASCII URI");
    }
  }
  absl::StatusOr<std::string> pem = ReadKeyFile(key_file);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<SigningKey> key = SigningKey::FromPem(*pem);
  if (!key.ok() || key->type() != SigningKey::Type::kEcP256) {
    return absl::InvalidArgumentError("--vapid_private_key_file must hold a P-256 PEM key");
  }
  return VapidCredentials{*std::move(key), subject};
}

VapidSigner::VapidSigner(VapidCredentials credentials)
    : credentials_(std::move(credentials)),
      public_key_(Base64UrlEncode(credentials_.key.PublicPoint())) {}

absl::StatusOr<std::string> VapidSigner::Authorization(const std::string& origin, absl::Time now) {
  auto it = cache_.find(origin);
  if (it != cache_.end() && it->second.expires - now > kRenewBefore) return it->second.header;
  if (cache_.size() >= kMaxOrigins) cache_.clear();
  int64_t exp = absl::ToUnixSeconds(now + kLifetime);
  absl::StatusOr<std::string> jwt =
      SignJwt(credentials_.key, R"({"typ":"JWT","alg":"ES256"})",
              absl::StrCat(R"({"aud":")", JsonEscape(origin), R"(","exp":)", exp, R"(,"sub":")",
                           credentials_.subject, R"("})"));
  if (!jwt.ok()) return jwt.status();
  Entry entry{absl::StrCat("vapid t=", *jwt, ", k=", public_key_), absl::FromUnixSeconds(exp)};
  cache_[origin] = entry;
  return entry.header;
}

}  // namespace legwise::push
