#include "services/common/jose.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace legwise::jose {
namespace {

Pkey KeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1) {
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return Pkey(pkey);
}

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

bool Base64UrlDecode(absl::string_view in, std::string* out, bool refuse_padding) {
  if (refuse_padding && in.find('=') != absl::string_view::npos) return false;
  return absl::WebSafeBase64Unescape(in, out);
}

std::string StringField(const google::protobuf::Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end() || !it->second.has_string_value()) return "";
  return it->second.string_value();
}

Pkey RsaPublicKey(const std::string& n, const std::string& e) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  BIGNUM* bn_n = BN_bin2bn(Bytes(n), static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(Bytes(e), static_cast<int>(e.size()), nullptr);
  Pkey key;
  if (bld != nullptr && bn_n != nullptr && bn_e != nullptr &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
    key = KeyFromParams("RSA", bld);
  }
  BN_free(bn_n);
  BN_free(bn_e);
  OSSL_PARAM_BLD_free(bld);
  return key;
}

Pkey EcPublicKey(const char* group, const std::string& x, const std::string& y) {
  const std::string point = absl::StrCat(std::string(1, '\x04'), x, y);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  Pkey key;
  if (bld != nullptr &&
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) ==
          1) {
    key = KeyFromParams("EC", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  return key;
}

std::string CompactJws::SigningInput() const {
  return absl::StrCat(encoded_header, ".", encoded_payload);
}

JwsSplit SplitCompactJws(absl::string_view token, CompactJws* out, bool refuse_padding) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return JwsSplit::kNotThreeParts;
  out->encoded_header = parts[0];
  out->encoded_payload = parts[1];
  if (!Base64UrlDecode(parts[0], &out->header_json, refuse_padding) ||
      !Base64UrlDecode(parts[1], &out->payload_json, refuse_padding) ||
      !Base64UrlDecode(parts[2], &out->signature, refuse_padding)) {
    return JwsSplit::kBadBase64;
  }
  return JwsSplit::kOk;
}

bool VerifySignature(EVP_PKEY* key, const EVP_MD* digest, int ec_component_bytes,
                     absl::string_view signing_input, const std::string& signature) {
  std::string der;
  if (ec_component_bytes > 0) {
    if (signature.size() != 2 * static_cast<size_t>(ec_component_bytes)) return false;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(Bytes(signature), ec_component_bytes, nullptr);
    BIGNUM* s = BN_bin2bn(Bytes(signature) + ec_component_bytes, ec_component_bytes, nullptr);
    ECDSA_SIG_set0(sig, r, s);
    unsigned char* out = nullptr;
    int len = i2d_ECDSA_SIG(sig, &out);
    if (len > 0) der.assign(reinterpret_cast<char*>(out), len);
    OPENSSL_free(out);
    ECDSA_SIG_free(sig);
  } else {
    der = signature;
  }
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok =
      md != nullptr && EVP_DigestVerifyInit(md, nullptr, digest, nullptr, key) == 1 &&
      EVP_DigestVerify(md, Bytes(der), der.size(), Bytes(signing_input), signing_input.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

bool AudienceContains(const google::protobuf::Struct& claims, const std::string& audience) {
  auto it = claims.fields().find("aud");
  if (it == claims.fields().end()) return false;
  if (it->second.has_string_value()) return it->second.string_value() == audience;
  if (it->second.has_list_value()) {
    for (const auto& a : it->second.list_value().values()) {
      if (a.has_string_value() && a.string_value() == audience) return true;
    }
  }
  return false;
}

}  // namespace legwise::jose
