#include "tests/support/test_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace legwise::testing {
namespace {

std::string B64Url(absl::string_view in) {
  std::string out;
  absl::WebSafeBase64Escape(in, &out);  // unpadded
  return out;
}

std::string BnBytes(const BIGNUM* bn, int pad_to = 0) {
  int len = BN_num_bytes(bn);
  int size = std::max(len, pad_to);
  std::string out(size, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), size);
  return out;
}

EVP_PKEY* Key(void* p) { return static_cast<EVP_PKEY*>(p); }

}  // namespace

std::unique_ptr<SigningKey> SigningKey::Rsa(std::string kid, int bits) {
  std::unique_ptr<SigningKey> k(new SigningKey());
  k->kid_ = std::move(kid);
  k->pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  return k;
}

std::unique_ptr<SigningKey> SigningKey::Ec(std::string kid) {
  std::unique_ptr<SigningKey> k(new SigningKey());
  k->kid_ = std::move(kid);
  k->ec_ = true;
  k->pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  return k;
}

SigningKey::~SigningKey() { EVP_PKEY_free(Key(pkey_)); }

std::string SigningKey::JwkJson() const {
  if (!ec_) {
    BIGNUM *n = nullptr, *e = nullptr;
    EVP_PKEY_get_bn_param(Key(pkey_), OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(Key(pkey_), OSSL_PKEY_PARAM_RSA_E, &e);
    std::string jwk =
        absl::StrCat(R"({"kty":"RSA","alg":"RS256","use":"sig","kid":")", kid_, R"(","n":")",
                     B64Url(BnBytes(n)), R"(","e":")", B64Url(BnBytes(e)), R"("})");
    BN_free(n);
    BN_free(e);
    return jwk;
  }
  unsigned char pub[65];
  size_t len = 0;
  EVP_PKEY_get_octet_string_param(Key(pkey_), OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &len);
  std::string point(reinterpret_cast<char*>(pub), len);  // 0x04 || x || y
  return absl::StrCat(R"({"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":")", kid_,
                      R"(","x":")", B64Url(point.substr(1, 32)), R"(","y":")",
                      B64Url(point.substr(33, 32)), R"("})");
}

std::string SigningKey::Sign(const std::string& claims_json,
                             const std::string& extra_header) const {
  std::string header =
      absl::StrCat(R"({"alg":")", ec_ ? "ES256" : "RS256", R"(","typ":"JWT","kid":")", kid_, "\"",
                   extra_header.empty() ? "" : ",", extra_header, "}");
  std::string signing_input = absl::StrCat(B64Url(header), ".", B64Url(claims_json));
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, Key(pkey_));
  size_t sig_len = 0;
  EVP_DigestSign(md, nullptr, &sig_len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  std::string sig(sig_len, '\0');
  EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  sig.resize(sig_len);
  EVP_MD_CTX_free(md);
  if (ec_) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    sig = BnBytes(ECDSA_SIG_get0_r(es), 32) + BnBytes(ECDSA_SIG_get0_s(es), 32);
    ECDSA_SIG_free(es);
  }
  return absl::StrCat(signing_input, ".", B64Url(sig));
}

std::string Jwks(const std::vector<const SigningKey*>& keys) {
  std::vector<std::string> parts;
  for (const SigningKey* k : keys) parts.push_back(k->JwkJson());
  return absl::StrCat(R"({"keys":[)", absl::StrJoin(parts, ","), "]}");
}

std::string Claims(const std::string& issuer, const std::string& audience,
                   const std::string& subject, absl::Duration ttl, const std::string& scope,
                   absl::Time now) {
  std::string json =
      absl::StrCat(R"({"iss":")", issuer, R"(","aud":")", audience, R"(","sub":")", subject,
                   R"(","iat":)", absl::ToUnixSeconds(now), R"(,"nbf":)",
                   absl::ToUnixSeconds(now) - 1, R"(,"exp":)", absl::ToUnixSeconds(now + ttl));
  if (!scope.empty()) absl::StrAppend(&json, R"(,"scope":")", scope, R"(")");
  return json + "}";
}

std::string UnsignedToken(const std::string& claims_json) {
  return absl::StrCat(B64Url(R"({"alg":"none","typ":"JWT"})"), ".", B64Url(claims_json), ".");
}

std::string TempDir(const std::string& prefix) {
  std::string templ = absl::StrCat("/tmp/", prefix, "XXXXXX");
  char* dir = ::mkdtemp(templ.data());
  return dir == nullptr ? "/tmp" : std::string(dir);
}

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& content) {
  std::string path = absl::StrCat(dir, "/", name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::map<std::string, std::string>> MakeCertificates(const std::string& dir) {
  std::string script = absl::StrCat(
      "set -e; cd '", dir, "'\n",
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=legwise-test-ca "
      "-keyout ca.key -out ca.pem 2>/dev/null\n",
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext\n",
      "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr "
      "2>/dev/null\n",
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile san.ext -out server.pem 2>/dev/null\n",
      "openssl req -newkey rsa:2048 -nodes -subj /CN=ehr-client -keyout client.key -out client.csr "
      "2>/dev/null\n",
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-out client.pem 2>/dev/null\n",
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=rogue-ca -keyout rogue-ca.key "
      "-out rogue-ca.pem 2>/dev/null\n",
      "openssl req -newkey rsa:2048 -nodes -subj /CN=rogue -keyout rogue.key -out rogue.csr "
      "2>/dev/null\n",
      "openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -CAcreateserial -days "
      "2 "
      "-out rogue.pem 2>/dev/null\n");
  std::string script_path = WriteFile(dir, "make-certs.sh", script);
  if (std::system(absl::StrCat("bash '", script_path, "'").c_str()) != 0) {
    return absl::InternalError("openssl failed to make test certificates");
  }
  std::map<std::string, std::string> paths;
  for (const char* name : {"ca.pem", "server.pem", "server.key", "client.pem", "client.key",
                           "rogue.pem", "rogue.key"}) {
    paths[name] = absl::StrCat(dir, "/", name);
  }
  return paths;
}

}  // namespace legwise::testing
