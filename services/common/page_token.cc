#include "services/common/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace legwise {
namespace {

constexpr size_t kTagBytes = 16;

absl::Status NotOurs() {
  return absl::InvalidArgumentError("page_token is not a token this server issued");
}

}  // namespace

PageTokenSigner::PageTokenSigner(std::string key) : key_(std::move(key)) {}

const PageTokenSigner& PageTokenSigner::BuiltIn() {
  static const auto* signer = new PageTokenSigner("legwise.page_token.builtin-key.v1");
  return *signer;
}

absl::StatusOr<PageTokenSigner> PageTokenSigner::FromKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("cannot read page token key file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && absl::ascii_isspace(static_cast<unsigned char>(key.back())))
    key.pop_back();
  if (key.size() < 16) {
    return absl::InvalidArgumentError("page token key file must hold at least 16 bytes");
  }
  return PageTokenSigner(std::move(key));
}

std::string PageTokenSigner::Tag(absl::string_view purpose, absl::string_view payload) const {
  std::string msg = absl::StrCat(purpose, absl::string_view("\0", 1), payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &mac_len);
  return std::string(reinterpret_cast<const char*>(mac), kTagBytes);
}

std::string PageTokenSigner::Sign(absl::string_view purpose, absl::string_view payload) const {
  std::string out;
  absl::WebSafeBase64Escape(absl::StrCat(payload, Tag(purpose, payload)), &out);
  return out;
}

absl::StatusOr<std::string> PageTokenSigner::Verify(absl::string_view purpose,
                                                    absl::string_view token) const {
  if (token.empty() || token.size() > kMaxPageTokenLength) return NotOurs();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() < kTagBytes) return NotOurs();
  const absl::string_view payload(raw.data(), raw.size() - kTagBytes);
  const std::string tag = Tag(purpose, payload);
  if (CRYPTO_memcmp(tag.data(), raw.data() + payload.size(), kTagBytes) != 0) return NotOurs();
  // Only the canonical encoding is accepted (no padding or re-encoded variants).
  std::string canonical;
  absl::WebSafeBase64Escape(raw, &canonical);
  if (canonical != token) return NotOurs();
  return std::string(payload);
}

namespace {
std::atomic<const PageTokenSigner*> g_default{nullptr};
}  // namespace

const PageTokenSigner& DefaultPageTokenSigner() {
  const PageTokenSigner* s = g_default.load(std::memory_order_acquire);
  return s != nullptr ? *s : PageTokenSigner::BuiltIn();
}

absl::Status InstallPageTokenKeyFile(const std::string& path) {
  absl::StatusOr<PageTokenSigner> s = PageTokenSigner::FromKeyFile(path);
  if (!s.ok()) return s.status();
  // Leaked on purpose: handed out by reference for the life of the process.
  g_default.store(new PageTokenSigner(*std::move(s)), std::memory_order_release);
  return absl::OkStatus();
}

}  // namespace legwise
