// ListTopics page tokens (AIP-158): opaque to callers, checked on the way back in. A token is the
// serialized internal PageToken plus a checksum, base64url-encoded; any edit makes it invalid.
#ifndef LEGWISE_SERVICES_CONTENT_CATALOG_PAGE_TOKEN_H_
#define LEGWISE_SERVICES_CONTENT_CATALOG_PAGE_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/content/catalog/catalog_index.pb.h"

namespace legwise::content {

// Longest token accepted; longer input is rejected before decoding.
inline constexpr size_t kMaxPageTokenLength = 512;

// Encodes a token.
std::string EncodePageToken(const internal::PageToken& token);

// Decodes a token made by EncodePageToken; INVALID_ARGUMENT when it is not one (edited, truncated,
// or made up). The message never echoes the token.
absl::StatusOr<internal::PageToken> DecodePageToken(absl::string_view token);

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CATALOG_PAGE_TOKEN_H_
