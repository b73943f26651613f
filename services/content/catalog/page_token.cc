#include "services/content/catalog/page_token.h"

#include <string>

#include "absl/status/status.h"
#include "services/common/page_token.h"

namespace legwise::content {
namespace {
constexpr absl::string_view kPurpose = "content.ListTopics";
}  // namespace

std::string EncodePageToken(const internal::PageToken& token) {
  std::string payload;
  token.SerializeToString(&payload);
  return DefaultPageTokenSigner().Sign(kPurpose, payload);
}

absl::StatusOr<internal::PageToken> DecodePageToken(absl::string_view token) {
  absl::StatusOr<std::string> payload = DefaultPageTokenSigner().Verify(kPurpose, token);
  if (!payload.ok()) return payload.status();
  internal::PageToken out;
  if (!out.ParseFromString(*payload)) {
    return absl::InvalidArgumentError("page_token is not a token this server issued");
  }
  return out;
}

}  // namespace legwise::content
