// The Redis implementation of RemoteStore, over the shared RedisClient (pool, short timeouts,
// reconnects by itself).
#ifndef LEGWISE_SERVICES_CONTENT_REDIS_STORE_H_
#define LEGWISE_SERVICES_CONTENT_REDIS_STORE_H_

#include <string>

#include "services/common/redis_client.h"
#include "services/content/content_cache.h"

namespace legwise::content {

class RedisRemoteStore : public RemoteStore {
 public:
  // `client` must outlive the store.
  explicit RedisRemoteStore(RedisClient* client) : client_(client) {}

  // SET key value NX PX ttl GET (Redis >= 7.0): one round trip that returns the existing value, or
  // stores ours when there is none.
  absl::StatusOr<absl::optional<std::string>> GetOrSet(const std::string& key,
                                                       const std::string& value,
                                                       absl::Duration ttl) override;
  uint64_t round_trips() const override { return client_->round_trips(); }

 private:
  RedisClient* client_;
};

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_REDIS_STORE_H_
