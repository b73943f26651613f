// Signed page tokens (AIP-158), one helper for every List method: a token is opaque to callers
// and checked on the way back in. Token = base64url(payload || tag), where tag is the first 16
// bytes of HMAC-SHA256(key, purpose || 0x00 || payload). `purpose` names the method ("content.
// ListTopics", "reminder.ListUpcomingNudges"), so a token of one method is refused by another. Any
// edit, truncation or made-up token is INVALID_ARGUMENT, and the message never echoes the token.
//
// Replicas of one deployment must share the key (--page_token_key_file) so a page fetched from one
// replica continues on another; without a key file a built-in key is used (tokens still cannot be
// edited, but anyone with the source could forge one: production sets a key).
#ifndef LEGWISE_SERVICES_COMMON_PAGE_TOKEN_H_
#define LEGWISE_SERVICES_COMMON_PAGE_TOKEN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace legwise {

// Longest token accepted; longer input is refused before any decoding.
inline constexpr size_t kMaxPageTokenLength = 1024;

class PageTokenSigner {
 public:
  // `key`: at least 16 bytes of secret.
  explicit PageTokenSigner(std::string key);

  // The signer with the built-in key (tests, development).
  static const PageTokenSigner& BuiltIn();
  // The key in `path` (whitespace at the end ignored): at least 16 bytes, else INVALID_ARGUMENT.
  static absl::StatusOr<PageTokenSigner> FromKeyFile(const std::string& path);

  std::string Sign(absl::string_view purpose, absl::string_view payload) const;
  // The payload of a token made by Sign with the same purpose; INVALID_ARGUMENT otherwise.
  absl::StatusOr<std::string> Verify(absl::string_view purpose, absl::string_view token) const;

 private:
  std::string Tag(absl::string_view purpose, absl::string_view payload) const;
  std::string key_;
};

// The process's signer: the built-in key until InstallPageTokenKeyFile succeeds. Services call
// Install... once at start (before serving), from --page_token_key_file.
const PageTokenSigner& DefaultPageTokenSigner();
absl::Status InstallPageTokenKeyFile(const std::string& path);

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_PAGE_TOKEN_H_
