#include "services/reminder/push/crypto.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace legwise::push {
namespace {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Never prompts for a passphrase (PEM_read_bio_PrivateKey would ask the terminal).
int NoPassphrase(char*, int, int, void*) { return -1; }

// A public P-256 key from its uncompressed point; nullptr when the point is not on the curve.
Pkey P256PublicKey(absl::string_view point) {
  Pkey out(nullptr, EVP_PKEY_free);
  if (!IsP256UncompressedPoint(point)) return out;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* pkey = nullptr;
  if (params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1) {
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  out.reset(pkey);
  return out;
}

// HKDF-SHA-256 (RFC 5869) through OpenSSL's KDF: extract with `salt`, expand `info` to `length`.
absl::StatusOr<std::string> Hkdf(absl::string_view salt, absl::string_view ikm,
                                 absl::string_view info, size_t length) {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return absl::InternalError("OpenSSL has no HKDF");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  if (ctx == nullptr) return absl::InternalError("HKDF context");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  std::string out(length, '\0');
  int ok = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), length, params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) return absl::InternalError("HKDF failed");
  return out;
}

absl::StatusOr<std::string> Aes128GcmSeal(absl::string_view key, absl::string_view nonce,
                                          absl::string_view plaintext) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::string out(plaintext.size() + 16, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0, fin = 0;
  bool ok =
      ctx != nullptr &&
      EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, Bytes(key), Bytes(nonce)) == 1 &&
      EVP_EncryptUpdate(ctx, o, &len, Bytes(plaintext), static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx, o + len, &fin) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, o + len + fin) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok || static_cast<size_t>(len + fin) != plaintext.size()) {
    return absl::InternalError("AES-128-GCM failed");
  }
  return out;
}

}  // namespace

std::string Base64UrlEncode(absl::string_view in) { return absl::WebSafeBase64Escape(in); }

bool Base64UrlDecode(absl::string_view in, std::string* out) {
  size_t end = in.size();
  for (int pad = 0; pad < 2 && end > 0 && in[end - 1] == '='; ++pad) --end;
  for (size_t i = 0; i < end; ++i) {
    char c = in[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  if (end % 4 == 1) return false;
  return absl::WebSafeBase64Unescape(in.substr(0, end), out);
}

std::string Sha256(absl::string_view in) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(Bytes(in), in.size(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

bool IsP256UncompressedPoint(absl::string_view point) {
  if (point.size() != 65 || point[0] != 0x04) return false;
  static const EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  EC_POINT* p = EC_POINT_new(group);
  // oct2point refuses coordinates off the curve; the point at infinity has no 65-byte encoding.
  bool ok = p != nullptr && EC_POINT_oct2point(group, p, Bytes(point), point.size(), nullptr) == 1;
  EC_POINT_free(p);
  return ok;
}

absl::StatusOr<SigningKey> SigningKey::FromPem(absl::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* raw =
      bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(bio, nullptr, NoPassphrase, nullptr);
  BIO_free(bio);
  if (raw == nullptr) {
    return absl::InvalidArgumentError("not a PEM private key (PKCS#8 or SEC1, unencrypted)");
  }
  SigningKey key;
  key.pkey_ = std::shared_ptr<void>(raw, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  if (EVP_PKEY_is_a(raw, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(raw, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) != 1 ||
        std::strcmp(group, "prime256v1") != 0) {
      return absl::InvalidArgumentError("an EC key must be on P-256 (prime256v1)");
    }
    key.type_ = Type::kEcP256;
  } else if (EVP_PKEY_is_a(raw, "RSA")) {
    if (EVP_PKEY_get_bits(raw) < 2048) {
      return absl::InvalidArgumentError("an RSA key must have at least 2048 bits");
    }
    key.type_ = Type::kRsa;
  } else {
    return absl::InvalidArgumentError("the key must be EC P-256 or RSA");
  }
  return key;
}

absl::StatusOr<SigningKey> SigningKey::GenerateP256() {
  EVP_PKEY* raw = EVP_EC_gen("P-256");
  if (raw == nullptr) return absl::InternalError("P-256 key generation failed");
  SigningKey key;
  key.pkey_ = std::shared_ptr<void>(raw, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  key.type_ = Type::kEcP256;
  return key;
}

absl::StatusOr<SigningKey> SigningKey::P256FromParts(absl::string_view private_scalar,
                                                     absl::string_view public_point) {
  if (private_scalar.size() != 32 || !IsP256UncompressedPoint(public_point)) {
    return absl::InvalidArgumentError("a P-256 key needs a 32-byte scalar and a 65-byte point");
  }
  BIGNUM* d = BN_bin2bn(Bytes(private_scalar), 32, nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, public_point.data(),
                                   public_point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* raw = nullptr;
  if (params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1) {
    EVP_PKEY_fromdata(ctx, &raw, EVP_PKEY_KEYPAIR, params);
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_clear_free(d);
  if (raw == nullptr) return absl::InvalidArgumentError("not a P-256 key pair");
  SigningKey key;
  key.pkey_ = std::shared_ptr<void>(raw, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  key.type_ = Type::kEcP256;
  return key;
}

std::string SigningKey::PublicPoint() const {
  if (type_ != Type::kEcP256) return "";
  auto* pkey = static_cast<EVP_PKEY*>(pkey_.get());
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  std::string out(65, '\0');
  out[0] = 0x04;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  bool ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
            BN_bn2binpad(x, o + 1, 32) == 32 && BN_bn2binpad(y, o + 33, 32) == 32;
  BN_free(x);
  BN_free(y);
  return ok ? out : "";
}

absl::StatusOr<std::string> SigningKey::Sign(absl::string_view input) const {
  auto* pkey = static_cast<EVP_PKEY*>(pkey_.get());
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  bool ok = md != nullptr && EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
            EVP_DigestSign(md, nullptr, &len, Bytes(input), input.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len, Bytes(input),
                        input.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(md);
  if (!ok) return absl::InternalError("signing failed");
  if (type_ == Type::kRsa) return sig;
  // OpenSSL gives a DER ECDSA-Sig-Value; JWS wants r || s, 32 bytes each (RFC 7518 3.4).
  const unsigned char* p = Bytes(sig);
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  if (ecdsa == nullptr) return absl::InternalError("bad ECDSA signature encoding");
  std::string raw(64, '\0');
  auto* o = reinterpret_cast<unsigned char*>(raw.data());
  ok = BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), o, 32) == 32 &&
       BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), o + 32, 32) == 32;
  ECDSA_SIG_free(ecdsa);
  if (!ok) return absl::InternalError("bad ECDSA signature");
  return raw;
}

absl::StatusOr<std::string> SigningKey::DeriveSharedSecret(absl::string_view peer_point) const {
  if (type_ != Type::kEcP256) return absl::FailedPreconditionError("ECDH needs an EC key");
  Pkey peer = P256PublicKey(peer_point);
  if (peer == nullptr) return absl::InvalidArgumentError("not an uncompressed P-256 point");
  EVP_PKEY_CTX* ctx =
      EVP_PKEY_CTX_new_from_pkey(nullptr, static_cast<EVP_PKEY*>(pkey_.get()), nullptr);
  size_t len = 0;
  std::string secret;
  bool ok = ctx != nullptr && EVP_PKEY_derive_init(ctx) == 1 &&
            EVP_PKEY_derive_set_peer(ctx, peer.get()) == 1 &&
            EVP_PKEY_derive(ctx, nullptr, &len) == 1;
  if (ok) {
    secret.resize(len);
    ok = EVP_PKEY_derive(ctx, reinterpret_cast<unsigned char*>(secret.data()), &len) == 1;
    secret.resize(len);
  }
  EVP_PKEY_CTX_free(ctx);
  if (!ok || secret.size() != 32) return absl::InternalError("ECDH failed");
  return secret;
}

absl::StatusOr<std::string> SignJwt(const SigningKey& key, absl::string_view header_json,
                                    absl::string_view claims_json) {
  std::string input = absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(claims_json));
  absl::StatusOr<std::string> sig = key.Sign(input);
  if (!sig.ok()) return sig.status();
  return absl::StrCat(input, ".", Base64UrlEncode(*sig));
}

absl::StatusOr<std::string> EncryptWebPushWith(absl::string_view plaintext,
                                               absl::string_view ua_public,
                                               absl::string_view auth_secret,
                                               const SigningKey& as_key, absl::string_view salt) {
  if (plaintext.size() > kMaxWebPushPlaintext) {
    return absl::InvalidArgumentError("payload too large for one Web Push record");
  }
  if (auth_secret.size() != 16 || salt.size() != 16) {
    return absl::InvalidArgumentError("auth secret and salt must be 16 bytes");
  }
  std::string as_public = as_key.PublicPoint();
  absl::StatusOr<std::string> ecdh = as_key.DeriveSharedSecret(ua_public);
  if (!ecdh.ok()) return ecdh.status();
  // RFC 8291 section 3.3: IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" 0 ua_public
  // as_public, 32); section 3.4 / RFC 8188 2.2-2.3: CEK and NONCE from HKDF(salt, IKM, ...).
  std::string key_info =
      absl::StrCat(absl::string_view("WebPush: info\0", 14), ua_public, as_public);
  absl::StatusOr<std::string> ikm = Hkdf(auth_secret, *ecdh, key_info, 32);
  if (!ikm.ok()) return ikm.status();
  absl::StatusOr<std::string> cek =
      Hkdf(salt, *ikm, absl::string_view("Content-Encoding: aes128gcm\0", 28), 16);
  absl::StatusOr<std::string> nonce =
      Hkdf(salt, *ikm, absl::string_view("Content-Encoding: nonce\0", 24), 12);
  if (!cek.ok()) return cek.status();
  if (!nonce.ok()) return nonce.status();
  // One record, the last: the plaintext, then the delimiter 0x02 (no further padding).
  absl::StatusOr<std::string> sealed =
      Aes128GcmSeal(*cek, *nonce, absl::StrCat(plaintext, absl::string_view("\x02", 1)));
  if (!sealed.ok()) return sealed.status();
  // The aes128gcm header (RFC 8188 2.1): salt, record size 4096 big-endian, key id = as_public.
  std::string out;
  out.reserve(86 + sealed->size());
  absl::StrAppend(&out, salt, absl::string_view("\x00\x00\x10\x00", 4),
                  absl::string_view("\x41", 1), as_public, *sealed);
  return out;
}

absl::StatusOr<std::string> EncryptWebPush(absl::string_view plaintext, absl::string_view ua_public,
                                           absl::string_view auth_secret) {
  absl::StatusOr<SigningKey> ephemeral = SigningKey::GenerateP256();
  if (!ephemeral.ok()) return ephemeral.status();
  std::string salt(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), 16) != 1) {
    return absl::InternalError("no random bytes");
  }
  return EncryptWebPushWith(plaintext, ua_public, auth_secret, *ephemeral, salt);
}

}  // namespace legwise::push
