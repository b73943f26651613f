// ListTopics page tokens (AIP-158): the serialized internal PageToken, signed by the shared helper
// (services/common/page_token.h, purpose "content.ListTopics"); any edit makes it invalid.
#ifndef LEGWISE_SERVICES_CONTENT_CATALOG_PAGE_TOKEN_H_
#define LEGWISE_SERVICES_CONTENT_CATALOG_PAGE_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/content/catalog/catalog_index.pb.h"

namespace legwise::content {

// Encodes a token.
std::string EncodePageToken(const internal::PageToken& token);

// Decodes a token made by EncodePageToken; INVALID_ARGUMENT when it is not one (edited, truncated,
// or made up). The message never echoes the token.
absl::StatusOr<internal::PageToken> DecodePageToken(absl::string_view token);

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CATALOG_PAGE_TOKEN_H_
