#include "services/gateway/cds/cds_auth.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace legwise::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status Unauth(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("CDS client token: ", why));
}

bool B64(absl::string_view in, std::string* out) {
  // base64url without padding only (RFC 7515).
  if (in.find('=') != absl::string_view::npos) return false;
  return absl::WebSafeBase64Unescape(in, out);
}

std::string Str(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end() || it->second.kind_case() != Value::kStringValue) return "";
  return it->second.string_value();
}

bool Number(const Struct& s, const std::string& name, double* out) {
  auto it = s.fields().find(name);
  if (it == s.fields().end() || it->second.kind_case() != Value::kNumberValue) return false;
  *out = it->second.number_value();
  return true;
}

EVP_PKEY* FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1) {
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey;
}

}  // namespace

struct CdsClientVerifier::Key {
  bool ec = false;
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

CdsClientVerifier::~CdsClientVerifier() = default;

absl::StatusOr<std::unique_ptr<CdsClientVerifier>> CdsClientVerifier::Create(
    const std::string& jwks_json, std::vector<std::string> issuers, size_t max_jtis) {
  std::unique_ptr<CdsClientVerifier> v(new CdsClientVerifier());
  v->max_jtis_ = max_jtis;
  for (std::string& i : issuers) {
    if (!i.empty()) v->issuers_.insert(std::move(i));
  }
  if (v->issuers_.empty()) return absl::InvalidArgumentError("cds_client_issuers: none given");
  Struct jwks;
  if (!google::protobuf::util::JsonStringToMessage(jwks_json, &jwks).ok()) {
    return absl::InvalidArgumentError("cds_client_jwks_file: not JSON");
  }
  auto keys = jwks.fields().find("keys");
  if (keys == jwks.fields().end() || keys->second.kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError("cds_client_jwks_file: no \"keys\" array");
  }
  for (const Value& kv : keys->second.list_value().values()) {
    if (kv.kind_case() != Value::kStructValue) continue;
    const Struct& k = kv.struct_value();
    std::string kid = Str(k, "kid"), kty = Str(k, "kty"), alg = Str(k, "alg"), use = Str(k, "use");
    if (kid.empty() || (!use.empty() && use != "sig")) continue;
    auto key = std::make_unique<Key>();
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    if (kty == "EC" && Str(k, "crv") == "P-384" && (alg.empty() || alg == "ES384")) {
      std::string x, y;
      if (!B64(Str(k, "x"), &x) || !B64(Str(k, "y"), &y) || x.size() != 48 || y.size() != 48) {
        OSSL_PARAM_BLD_free(bld);
        return absl::InvalidArgumentError(absl::StrCat("cds_client_jwks_file: bad EC key ", kid));
      }
      std::string point = absl::StrCat("\x04", x, y);
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "secp384r1", 0);
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
      key->ec = true;
      key->pkey = FromParams("EC", bld);
    } else if (kty == "RSA" && (alg.empty() || alg == "RS384")) {
      std::string n, e;
      if (!B64(Str(k, "n"), &n) || !B64(Str(k, "e"), &e) || n.size() < 256 || n.size() > 1024 ||
          e.empty() || e.size() > 8) {
        OSSL_PARAM_BLD_free(bld);
        return absl::InvalidArgumentError(absl::StrCat("cds_client_jwks_file: bad RSA key ", kid));
      }
      BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), n.size(), nullptr);
      BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), e.size(), nullptr);
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
      key->pkey = FromParams("RSA", bld);
      BN_free(bn_n);
      BN_free(bn_e);
      if (key->pkey != nullptr && EVP_PKEY_get_bits(key->pkey) < 2048) {
        OSSL_PARAM_BLD_free(bld);
        return absl::InvalidArgumentError(
            absl::StrCat("cds_client_jwks_file: RSA key ", kid, " shorter than 2048 bits"));
      }
    } else {
      OSSL_PARAM_BLD_free(bld);
      continue;  // other key types and algorithms are not for CDS clients
    }
    OSSL_PARAM_BLD_free(bld);
    if (key->pkey == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("cds_client_jwks_file: unusable key ", kid));
    }
    v->keys_[kid] = std::move(key);
  }
  if (v->keys_.empty()) {
    return absl::InvalidArgumentError("cds_client_jwks_file: no ES384 or RS384 signing key");
  }
  return v;
}

absl::StatusOr<CdsClientVerifier::Client> CdsClientVerifier::Verify(
    const std::string& authorization, const std::string& audience, absl::Time now) {
  absl::string_view auth = authorization;
  if (!absl::ConsumePrefix(&auth, "Bearer ")) return Unauth("no JWT in the Authorization header");
  if (auth.size() > 16384) return Unauth("too long");
  std::vector<absl::string_view> parts = absl::StrSplit(auth, '.');
  if (parts.size() != 3) return Unauth("not a compact JWS");
  std::string header_json, payload_json, sig;
  if (!B64(parts[0], &header_json) || !B64(parts[1], &payload_json) || !B64(parts[2], &sig)) {
    return Unauth("bad base64url");
  }
  Struct header, claims;
  if (!google::protobuf::util::JsonStringToMessage(header_json, &header).ok() ||
      !google::protobuf::util::JsonStringToMessage(payload_json, &claims).ok()) {
    return Unauth("bad JSON");
  }
  std::string alg = Str(header, "alg");
  if (alg != "ES384" && alg != "RS384") return Unauth("alg must be ES384 or RS384");
  if (header.fields().contains("crit")) return Unauth("crit is not supported");
  auto key_it = keys_.find(Str(header, "kid"));
  if (key_it == keys_.end()) return Unauth("unknown kid");
  const Key& key = *key_it->second;
  if (key.ec != (alg == "ES384")) return Unauth("alg does not match the key");

  // Signature first: nothing unsigned is trusted.
  std::string signing_input = absl::StrCat(parts[0], ".", parts[1]);
  std::string der;
  if (key.ec) {
    if (sig.size() != 96) return Unauth("bad signature");
    ECDSA_SIG* es = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 48, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 48, 48, nullptr);
    ECDSA_SIG_set0(es, r, s);
    unsigned char* out = nullptr;
    int len = i2d_ECDSA_SIG(es, &out);
    if (len > 0) der.assign(reinterpret_cast<char*>(out), len);
    OPENSSL_free(out);
    ECDSA_SIG_free(es);
  } else {
    der = sig;
  }
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha384(), nullptr, key.pkey) == 1 &&
            EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                             reinterpret_cast<const unsigned char*>(signing_input.data()),
                             signing_input.size()) == 1;
  EVP_MD_CTX_free(md);
  if (!ok) return Unauth("bad signature");

  std::string iss = Str(claims, "iss");
  if (!issuers_.contains(iss)) return Unauth("untrusted iss");
  // aud: a string or an array holding the service URL.
  bool aud_ok = false;
  if (auto it = claims.fields().find("aud"); it != claims.fields().end()) {
    if (it->second.kind_case() == Value::kStringValue) {
      aud_ok = it->second.string_value() == audience;
    } else if (it->second.kind_case() == Value::kListValue) {
      for (const Value& a : it->second.list_value().values()) {
        if (a.kind_case() == Value::kStringValue && a.string_value() == audience) aud_ok = true;
      }
    }
  }
  if (!aud_ok) return Unauth("aud is not this service");
  double exp_s = 0, iat_s = 0;
  if (!Number(claims, "exp", &exp_s)) return Unauth("no exp");
  absl::Time exp = absl::FromUnixSeconds(static_cast<int64_t>(exp_s));
  if (exp <= now - kClockSkew) return Unauth("expired");
  if (exp > now + kMaxLifetime + kClockSkew) return Unauth("exp more than 5 minutes ahead");
  if (Number(claims, "iat", &iat_s) &&
      absl::FromUnixSeconds(static_cast<int64_t>(iat_s)) > now + kClockSkew) {
    return Unauth("iat in the future");
  }
  std::string jti = Str(claims, "jti");
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
