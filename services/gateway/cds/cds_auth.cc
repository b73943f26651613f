#include "services/gateway/cds/cds_auth.h"

#include <openssl/evp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "services/common/jose.h"

namespace legwise::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using jose::StringField;

absl::Status Unauth(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("CDS client token: ", why));
}

bool B64(absl::string_view in, std::string* out) {
  // base64url without padding only (RFC 7515).
  return jose::Base64UrlDecode(in, out, /*refuse_padding=*/true);
}

bool Number(const Struct& s, const std::string& name, double* out) {
  auto it = s.fields().find(name);
  if (it == s.fields().end() || it->second.kind_case() != Value::kNumberValue) return false;
  *out = it->second.number_value();
  return true;
}

}  // namespace

struct CdsClientVerifier::Key {
  bool ec = false;
  jose::Pkey pkey;
};

CdsClientVerifier::~CdsClientVerifier() = default;

absl::StatusOr<std::shared_ptr<const CdsClientVerifier::KeySet>> CdsClientVerifier::ParseKeys(
    const std::string& jwks_json) {
  Struct jwks;
  if (!google::protobuf::util::JsonStringToMessage(jwks_json, &jwks).ok()) {
    return absl::InvalidArgumentError("cds_client_jwks_file: not JSON");
  }
  auto keys = jwks.fields().find("keys");
  if (keys == jwks.fields().end() || keys->second.kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError("cds_client_jwks_file: no \"keys\" array");
  }
  auto set = std::make_shared<KeySet>();
  for (const Value& kv : keys->second.list_value().values()) {
    if (kv.kind_case() != Value::kStructValue) continue;
    const Struct& k = kv.struct_value();
    std::string kid = StringField(k, "kid"), kty = StringField(k, "kty"),
                alg = StringField(k, "alg"), use = StringField(k, "use");
    if (kid.empty() || (!use.empty() && use != "sig")) continue;
    auto key = std::make_unique<Key>();
    if (kty == "EC" && StringField(k, "crv") == "P-384" && (alg.empty() || alg == "ES384")) {
      std::string x, y;
      if (!B64(StringField(k, "x"), &x) || !B64(StringField(k, "y"), &y) || x.size() != 48 ||
          y.size() != 48) {
        return absl::InvalidArgumentError(absl::StrCat("cds_client_jwks_file: bad EC key ", kid));
      }
      key->ec = true;
      key->pkey = jose::EcPublicKey("secp384r1", x, y);
    } else if (kty == "RSA" && (alg.empty() || alg == "RS384")) {
      std::string n, e;
      if (!B64(StringField(k, "n"), &n) || !B64(StringField(k, "e"), &e) || n.size() < 256 ||
          n.size() > 1024 || e.empty() || e.size() > 8) {
        return absl::InvalidArgumentError(absl::StrCat("cds_client_jwks_file: bad RSA key ", kid));
      }
      key->pkey = jose::RsaPublicKey(n, e);
      if (key->pkey != nullptr && EVP_PKEY_get_bits(key->pkey.get()) < 2048) {
        return absl::InvalidArgumentError(
            absl::StrCat("cds_client_jwks_file: RSA key ", kid, " shorter than 2048 bits"));
      }
    } else {
      continue;  // other key types and algorithms are not for CDS clients
    }
    if (key->pkey == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("cds_client_jwks_file: unusable key ", kid));
    }
    (*set)[kid] = std::move(key);
  }
  if (set->empty()) {
    return absl::InvalidArgumentError("cds_client_jwks_file: no ES384 or RS384 signing key");
  }
  return set;
}

absl::StatusOr<std::unique_ptr<CdsClientVerifier>> CdsClientVerifier::Create(
    const std::string& jwks_json, std::vector<std::string> issuers, size_t max_jtis) {
  std::unique_ptr<CdsClientVerifier> v(new CdsClientVerifier());
  v->max_jtis_ = max_jtis;
  for (std::string& i : issuers) {
    if (!i.empty()) v->issuers_.insert(std::move(i));
  }
  if (v->issuers_.empty()) return absl::InvalidArgumentError("cds_client_issuers: none given");
  if (absl::Status s = v->ReplaceKeys(jwks_json); !s.ok()) return s;
  return v;
}

absl::Status CdsClientVerifier::ReplaceKeys(const std::string& jwks_json) {
  absl::StatusOr<std::shared_ptr<const KeySet>> keys = ParseKeys(jwks_json);
  if (!keys.ok()) return keys.status();
  absl::MutexLock lock(&keys_mu_);
  keys_ = *std::move(keys);
  return absl::OkStatus();
}

std::shared_ptr<const CdsClientVerifier::KeySet> CdsClientVerifier::keys() const {
  absl::MutexLock lock(&keys_mu_);
  return keys_;
}

absl::StatusOr<CdsClientVerifier::Client> CdsClientVerifier::Verify(
    const std::string& authorization, const std::string& audience, absl::Time now) {
  absl::string_view auth = authorization;
  if (!absl::ConsumePrefix(&auth, "Bearer ")) return Unauth("no JWT in the Authorization header");
  if (auth.size() > 16384) return Unauth("too long");
  jose::CompactJws jws;
  switch (jose::SplitCompactJws(auth, &jws, /*refuse_padding=*/true)) {
    case jose::JwsSplit::kOk:
      break;
    case jose::JwsSplit::kNotThreeParts:
      return Unauth("not a compact JWS");
    case jose::JwsSplit::kBadBase64:
      return Unauth("bad base64url");
  }
  Struct header, claims;
  if (!google::protobuf::util::JsonStringToMessage(jws.header_json, &header).ok() ||
      !google::protobuf::util::JsonStringToMessage(jws.payload_json, &claims).ok()) {
    return Unauth("bad JSON");
  }
  std::string alg = StringField(header, "alg");
  if (alg != "ES384" && alg != "RS384") return Unauth("alg must be ES384 or RS384");
  if (header.fields().contains("crit")) return Unauth("crit is not supported");
  const std::shared_ptr<const KeySet> keys = this->keys();
  auto key_it = keys->find(StringField(header, "kid"));
  if (key_it == keys->end()) return Unauth("unknown kid");
  const Key& key = *key_it->second;
  if (key.ec != (alg == "ES384")) return Unauth("alg does not match the key");

  // Signature first: nothing unsigned is trusted.
  if (!jose::VerifySignature(key.pkey.get(), EVP_sha384(), key.ec ? 48 : 0, jws.SigningInput(),
                             jws.signature)) {
    return Unauth("bad signature");
  }

  std::string iss = StringField(claims, "iss");
  if (!issuers_.contains(iss)) return Unauth("untrusted iss");
  if (!jose::AudienceContains(claims, audience)) return Unauth("aud is not this service");
  double exp_s = 0, iat_s = 0;
  if (!Number(claims, "exp", &exp_s)) return Unauth("no exp");
  absl::Time exp = absl::FromUnixSeconds(static_cast<int64_t>(exp_s));
  if (exp <= now - kClockSkew) return Unauth("expired");
  if (exp > now + kMaxLifetime + kClockSkew) return Unauth("exp more than 5 minutes ahead");
  if (Number(claims, "iat", &iat_s) &&
      absl::FromUnixSeconds(static_cast<int64_t>(iat_s)) > now + kClockSkew) {
    return Unauth("iat in the future");
  }
  std::string jti = StringField(claims, "jti");
  if (jti.empty() || jti.size() > 256) return Unauth("no jti");
  const std::string replay_key = absl::StrCat(iss, " ", jti);
  {
    absl::MutexLock lock(&mu_);
    if (seen_.size() >= max_jtis_) {
      absl::erase_if(seen_, [&](const auto& e) { return e.second + kClockSkew < now; });
    }
    if (seen_.contains(replay_key)) return Unauth("jti already used (replay)");
    if (seen_.size() >= max_jtis_) {
      return absl::ResourceExhaustedError("CDS client token: too many tokens in flight");
    }
    seen_[replay_key] = exp;
  }
  return Client{iss, jti};
}

}  // namespace legwise::gateway
