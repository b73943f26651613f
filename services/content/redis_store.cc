#include "services/content/redis_store.h"

#include "absl/strings/str_cat.h"

namespace legwise::content {

absl::StatusOr<absl::optional<std::string>> RedisRemoteStore::GetOrSet(const std::string& key,
                                                                       const std::string& value,
                                                                       absl::Duration ttl) {
  const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl));
  absl::StatusOr<RedisReply> reply =
      client_->Command({"SET", key, value, "NX", "PX", absl::StrCat(ms), "GET"});
  if (!reply.ok()) return reply.status();
  if (reply->is_nil()) return absl::optional<std::string>();
  if (reply->type != RedisReply::Type::kString) {
    return absl::InternalError("redis: unexpected reply type to SET NX GET");
  }
  return absl::optional<std::string>(std::move(reply->str));
}

}  // namespace legwise::content
