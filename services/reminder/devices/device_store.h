// The device registry: each user's push targets (at most max_devices), keyed by a server-assigned
// device_id and by their TargetKey, so registering the same target again answers the same device.
// Stored as legwise.reminder.v1.Device. Redis layout (in the user's own hash slot, as the plan):
// rm:{u<user key>}:devices (hash device_id -> serialized Device) and rm:{u<user key>}:targets
// (hash TargetKey -> device_id). User ids are never stored in clear.
#ifndef LEGWISE_SERVICES_REMINDER_DEVICES_DEVICE_STORE_H_
#define LEGWISE_SERVICES_REMINDER_DEVICES_DEVICE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/redis_client.h"

namespace legwise::reminder {

class DeviceStore {
 public:
  virtual ~DeviceStore() = default;

  // Stores `device` (a validated target; device_id and create_time set by the caller for a new
  // device). When she already has a device with the same target, that device is updated (its
  // target fields and locale replaced, its device_id and create_time kept) and answered. Otherwise,
  // when she has `max_devices` devices already: FAILED_PRECONDITION (reason TOO_MANY_DEVICES).
  virtual absl::StatusOr<legwise::reminder::v1::Device> Register(
      absl::string_view user_id, const legwise::reminder::v1::Device& device, int max_devices) = 0;
  // Her devices, oldest first.
  virtual absl::StatusOr<std::vector<legwise::reminder::v1::Device>> List(
      absl::string_view user_id) = 0;
  // Removes one; NOT_FOUND when she has none with that id.
  virtual absl::Status Unregister(absl::string_view user_id, absl::string_view device_id) = 0;

  // For the push sender, which reads the delivery feed: its entries carry the user key
  // (UserKey(user_id)), never the user id.
  // Her devices by user key, oldest first.
  virtual absl::StatusOr<std::vector<legwise::reminder::v1::Device>> ListForUserKey(
      absl::string_view user_key) = 0;
  // ListForUserKey for several users at once, one answer per key in order (the Redis store sends
  // them as one pipeline: one round trip for a whole batch of the push sender's feed).
  virtual std::vector<absl::StatusOr<std::vector<legwise::reminder::v1::Device>>> ListForUserKeys(
      const std::vector<std::string>& user_keys) {
    std::vector<absl::StatusOr<std::vector<legwise::reminder::v1::Device>>> out;
    out.reserve(user_keys.size());
    for (const std::string& k : user_keys) out.push_back(ListForUserKey(k));
    return out;
  }
  // Forgets a device its provider called unregistered; OK when it is gone already (a retry, or she
  // unregistered it meanwhile).
  virtual absl::Status ForgetForUserKey(absl::string_view user_key,
                                        absl::string_view device_id) = 0;
};

// The FAILED_PRECONDITION of a full registry.
absl::Status TooManyDevices(int max_devices);

// Development and tests: one process, nothing survives a restart.
class MemoryDeviceStore final : public DeviceStore {
 public:
  absl::StatusOr<legwise::reminder::v1::Device> Register(
      absl::string_view user_id, const legwise::reminder::v1::Device& device,
      int max_devices) override;
  absl::StatusOr<std::vector<legwise::reminder::v1::Device>> List(
      absl::string_view user_id) override;
  absl::Status Unregister(absl::string_view user_id, absl::string_view device_id) override;
  absl::StatusOr<std::vector<legwise::reminder::v1::Device>> ListForUserKey(
      absl::string_view user_key) override;
  absl::Status ForgetForUserKey(absl::string_view user_key, absl::string_view device_id) override;

 private:
  struct UserDevices {
    absl::flat_hash_map<std::string, legwise::reminder::v1::Device> devices;  // by device_id
    absl::flat_hash_map<std::string, std::string> targets;  // TargetKey -> device_id
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, UserDevices> users_ ABSL_GUARDED_BY(mu_);
};

class RedisDeviceStore final : public DeviceStore {
 public:
  explicit RedisDeviceStore(std::shared_ptr<RedisClient> redis) : redis_(std::move(redis)) {}
  absl::StatusOr<legwise::reminder::v1::Device> Register(
      absl::string_view user_id, const legwise::reminder::v1::Device& device,
      int max_devices) override;
  absl::StatusOr<std::vector<legwise::reminder::v1::Device>> List(
      absl::string_view user_id) override;
  absl::Status Unregister(absl::string_view user_id, absl::string_view device_id) override;
  absl::StatusOr<std::vector<legwise::reminder::v1::Device>> ListForUserKey(
      absl::string_view user_key) override;
  std::vector<absl::StatusOr<std::vector<legwise::reminder::v1::Device>>> ListForUserKeys(
      const std::vector<std::string>& user_keys) override;
  absl::Status ForgetForUserKey(absl::string_view user_key, absl::string_view device_id) override;

 private:
  // Removes a device: true when it was there.
  absl::StatusOr<bool> Remove(absl::string_view user_key, absl::string_view device_id);
  std::shared_ptr<RedisClient> redis_;
};

// Oldest first, then by id (List's order).
void SortDevices(std::vector<legwise::reminder::v1::Device>* devices);

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_DEVICES_DEVICE_STORE_H_
