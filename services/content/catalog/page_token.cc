#include "services/content/catalog/page_token.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "services/content/catalog/hash.h"

namespace legwise::content {
namespace {

// Domain separation for the checksum, so a token is not just any base64 with a hash on it.
constexpr absl::string_view kTokenSalt = "legwise.content.page_token.v1";
constexpr size_t kChecksumBytes = 8;

std::string Checksum(absl::string_view payload) {
  uint64_t h = FnvAdd(FnvAdd(kFnvOffset, kTokenSalt), payload);
  std::string out(kChecksumBytes, '\0');
  for (size_t i = 0; i < kChecksumBytes; ++i) out[i] = static_cast<char>(h >> (8 * i));
  return out;
}

}  // namespace

std::string EncodePageToken(const internal::PageToken& token) {
  std::string payload;
  token.SerializeToString(&payload);
  std::string out;
  absl::WebSafeBase64Escape(payload + Checksum(payload), &out);
  return out;
}

absl::StatusOr<internal::PageToken> DecodePageToken(absl::string_view token) {
  const absl::Status bad =
      absl::InvalidArgumentError("page_token is not a token this server issued");
  if (token.size() > kMaxPageTokenLength) return bad;
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() < kChecksumBytes) return bad;
  absl::string_view payload(raw.data(), raw.size() - kChecksumBytes);
  if (Checksum(payload) != absl::string_view(raw).substr(payload.size())) return bad;
  internal::PageToken out;
  if (!out.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return bad;
  // Re-encoding must reproduce the token exactly: rejects padded or re-encoded variants.
  if (EncodePageToken(out) != token) return bad;
  return out;
}

}  // namespace legwise::content
