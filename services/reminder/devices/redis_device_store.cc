#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/reminder/devices/device_proto.h"
#include "services/reminder/devices/device_store.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {
namespace {
namespace v1 = ::legwise::reminder::v1;

// KEYS: devices, targets. ARGV: target key, device id, serialized device, max devices.
// {1, id, stored} when the target is registered already; {2} when she is at the limit; else both
// hashes are written and {0}.
constexpr char kRegisterScript[] = R"lua(
local id = redis.call('HGET', KEYS[2], ARGV[1])
if id then
  local stored = redis.call('HGET', KEYS[1], id)
  if stored then return {1, id, stored} end
  redis.call('HDEL', KEYS[2], ARGV[1])
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {2} end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {0}
)lua";

// KEYS: devices, targets. ARGV: target key, device id, serialized device. Replaces the stored
// device while the target still maps to it: 1, else 0 (unregistered meanwhile).
constexpr char kUpdateScript[] = R"lua(
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
)lua";

// KEYS: devices, targets. ARGV: device id, its target key. 1 when removed, 0 when absent.
constexpr char kUnregisterScript[] = R"lua(
local n = redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
return n
)lua";

std::string KeyPrefix(absl::string_view user_key) { return absl::StrCat("rm:{u", user_key, "}:"); }

std::string Prefix(absl::string_view user_id) { return KeyPrefix(UserKey(user_id)); }

absl::StatusOr<v1::Device> Parse(const std::string& data) {
  v1::Device d;
  if (!d.ParseFromString(data)) return absl::DataLossError("stored device does not parse");
  return d;
}

// An HVALS reply of her devices hash: the devices, oldest first.
absl::StatusOr<std::vector<v1::Device>> ParseDeviceList(const RedisReply& r) {
  std::vector<v1::Device> out;
  for (const RedisReply& e : r.elements) {
    absl::StatusOr<v1::Device> d = Parse(e.str);
    if (!d.ok()) return d.status();
    out.push_back(*std::move(d));
  }
  SortDevices(&out);
  return out;
}

absl::Status ScriptError(const RedisReply& r) {
  if (r.is_error()) return absl::InternalError(absl::StrCat("redis script: ", r.str));
  return absl::OkStatus();
}

int64_t AsInt(const RedisReply& r) {
  if (r.type == RedisReply::Type::kInteger) return r.integer;
  int64_t v = 0;
  if (!absl::SimpleAtoi(r.str, &v)) return -1;
  return v;
}

}  // namespace

absl::StatusOr<v1::Device> RedisDeviceStore::Register(absl::string_view user_id,
                                                      const v1::Device& device, int max_devices) {
  const std::string p = Prefix(user_id);
  const std::vector<std::string> keys = {p + "devices", p + "targets"};
  const std::string tk = TargetKeyOf(device);
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<RedisReply> r = redis_->Eval(
        kRegisterScript, keys,
        {tk, device.device_id(), device.SerializeAsString(), absl::StrCat(max_devices)});
    if (!r.ok()) return r.status();
    if (absl::Status s = ScriptError(*r); !s.ok()) return s;
    if (r->elements.empty()) return absl::InternalError("unexpected register reply");
    switch (AsInt(r->elements[0])) {
      case 0:
        return device;
      case 2:
        return TooManyDevices(max_devices);
      case 1: {
        if (r->elements.size() < 3) return absl::InternalError("unexpected register reply");
        absl::StatusOr<v1::Device> stored = Parse(r->elements[2].str);
        if (!stored.ok()) return stored.status();
        v1::Device updated = device;
        updated.set_device_id(stored->device_id());
        *updated.mutable_create_time() = stored->create_time();
        if (updated.SerializeAsString() == r->elements[2].str) return updated;
        absl::StatusOr<RedisReply> u = redis_->Eval(
            kUpdateScript, keys, {tk, updated.device_id(), updated.SerializeAsString()});
        if (!u.ok()) return u.status();
        if (absl::Status s = ScriptError(*u); !s.ok()) return s;
        if (AsInt(*u) == 1) return updated;
        continue;  // unregistered between the two scripts: register afresh
      }
      default:
        return absl::InternalError("unexpected register reply");
    }
  }
  return absl::AbortedError("the device changed concurrently; try again");
}

absl::StatusOr<std::vector<v1::Device>> RedisDeviceStore::List(absl::string_view user_id) {
  return ListForUserKey(UserKey(user_id));
}

absl::StatusOr<std::vector<v1::Device>> RedisDeviceStore::ListForUserKey(
    absl::string_view user_key) {
  absl::StatusOr<RedisReply> r = redis_->Command({"HVALS", KeyPrefix(user_key) + "devices"});
  if (!r.ok()) return r.status();
  return ParseDeviceList(*r);
}

std::vector<absl::StatusOr<std::vector<v1::Device>>> RedisDeviceStore::ListForUserKeys(
    const std::vector<std::string>& user_keys) {
  std::vector<std::vector<std::string>> cmds;
  cmds.reserve(user_keys.size());
  for (const std::string& k : user_keys) cmds.push_back({"HVALS", KeyPrefix(k) + "devices"});
  return PipelineEach<std::vector<v1::Device>>(*redis_, cmds, ParseDeviceList);
}

absl::Status RedisDeviceStore::Unregister(absl::string_view user_id, absl::string_view device_id) {
  absl::StatusOr<bool> removed = Remove(UserKey(user_id), device_id);
  if (!removed.ok()) return removed.status();
  if (!*removed) return absl::NotFoundError("no device with this device_id");
  return absl::OkStatus();
}

absl::Status RedisDeviceStore::ForgetForUserKey(absl::string_view user_key,
                                                absl::string_view device_id) {
  return Remove(user_key, device_id).status();
}

absl::StatusOr<bool> RedisDeviceStore::Remove(absl::string_view user_key,
                                              absl::string_view device_id) {
  const std::string p = KeyPrefix(user_key);
  absl::StatusOr<RedisReply> got = redis_->Command({"HGET", p + "devices", std::string(device_id)});
  if (!got.ok()) return got.status();
  if (got->is_nil()) return false;
  absl::StatusOr<v1::Device> d = Parse(got->str);
  if (!d.ok()) return d.status();
  // A device's target never changes (re-registering it keeps its TargetKey), so the key read here
  // is still the one to delete.
  absl::StatusOr<RedisReply> r = redis_->Eval(kUnregisterScript, {p + "devices", p + "targets"},
                                              {std::string(device_id), TargetKeyOf(*d)});
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  return AsInt(*r) != 0;
}

}  // namespace legwise::reminder
