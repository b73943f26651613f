#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/common/validation.h"
#include "services/reminder/devices/device_proto.h"
#include "services/reminder/devices/device_store.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {
namespace {
namespace v1 = ::legwise::reminder::v1;

// What a re-registration keeps of the stored device: its id and create_time.
v1::Device Updated(const v1::Device& stored, const v1::Device& incoming) {
  v1::Device out = incoming;
  out.set_device_id(stored.device_id());
  *out.mutable_create_time() = stored.create_time();
  return out;
}
}  // namespace

absl::Status TooManyDevices(int max_devices) {
  return WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat(
          "at most ", max_devices, " devices per user; unregister one before adding another")),
      "TOO_MANY_DEVICES");
}

void SortDevices(std::vector<v1::Device>* devices) {
  std::sort(devices->begin(), devices->end(), [](const v1::Device& a, const v1::Device& b) {
    const auto ka = std::make_tuple(a.create_time().seconds(), a.create_time().nanos());
    const auto kb = std::make_tuple(b.create_time().seconds(), b.create_time().nanos());
    if (ka != kb) return ka < kb;
    return a.device_id() < b.device_id();
  });
}

absl::StatusOr<v1::Device> MemoryDeviceStore::Register(absl::string_view user_id,
                                                       const v1::Device& device, int max_devices) {
  const std::string tk = TargetKeyOf(device);
  absl::MutexLock lock(&mu_);
  UserDevices& u = users_[UserKey(user_id)];
  if (auto it = u.targets.find(tk); it != u.targets.end()) {
    v1::Device& stored = u.devices[it->second];
    stored = Updated(stored, device);
    return stored;
  }
  if (static_cast<int>(u.devices.size()) >= max_devices) {
    if (u.devices.empty()) users_.erase(UserKey(user_id));
    return TooManyDevices(max_devices);
  }
  u.targets[tk] = device.device_id();
  u.devices[device.device_id()] = device;
  return device;
}

absl::StatusOr<std::vector<v1::Device>> MemoryDeviceStore::List(absl::string_view user_id) {
  return ListForUserKey(UserKey(user_id));
}

absl::Status MemoryDeviceStore::Unregister(absl::string_view user_id, absl::string_view device_id) {
  absl::MutexLock lock(&mu_);
  auto it = users_.find(UserKey(user_id));
  if (it == users_.end()) return absl::NotFoundError("no device with this device_id");
  auto d = it->second.devices.find(device_id);
  if (d == it->second.devices.end()) return absl::NotFoundError("no device with this device_id");
  it->second.targets.erase(TargetKeyOf(d->second));
  it->second.devices.erase(d);
  if (it->second.devices.empty()) users_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Device>> MemoryDeviceStore::ListForUserKey(
    absl::string_view user_key) {
  std::vector<v1::Device> out;
  absl::MutexLock lock(&mu_);
  if (auto it = users_.find(user_key); it != users_.end()) {
    for (const auto& [id, d] : it->second.devices) out.push_back(d);
  }
  SortDevices(&out);
  return out;
}

absl::Status MemoryDeviceStore::ForgetForUserKey(absl::string_view user_key,
                                                 absl::string_view device_id) {
  absl::MutexLock lock(&mu_);
  auto it = users_.find(user_key);
  if (it == users_.end()) return absl::OkStatus();
  auto d = it->second.devices.find(device_id);
  if (d == it->second.devices.end()) return absl::OkStatus();
  it->second.targets.erase(TargetKeyOf(d->second));
  it->second.devices.erase(d);
  if (it->second.devices.empty()) users_.erase(it);
  return absl::OkStatus();
}

}  // namespace legwise::reminder
