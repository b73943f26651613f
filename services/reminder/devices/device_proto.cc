#include "services/reminder/devices/device_proto.h"

#include <cstdint>
#include <variant>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "services/common/validation.h"

namespace legwise::reminder {
namespace {
namespace v1 = ::legwise::reminder::v1;
}  // namespace

push::Device FromProto(const v1::Device& in) {
  push::Device out;
  out.device_id = in.device_id();
  switch (in.target_case()) {
    case v1::Device::kApns:
      out.target = push::ApnsTarget{in.apns().device_token(), in.apns().sandbox()};
      break;
    case v1::Device::kFcm:
      out.target = push::FcmTarget{in.fcm().registration_token()};
      break;
    case v1::Device::kWebPush:
      out.target = push::WebPushTarget{in.web_push().endpoint(), in.web_push().p256dh(),
                                       in.web_push().auth()};
      break;
    case v1::Device::TARGET_NOT_SET:
      break;
  }
  out.locale = in.locale();
  if (in.has_create_time()) {
    out.create_time = absl::FromUnixSeconds(in.create_time().seconds()) +
                      absl::Nanoseconds(in.create_time().nanos());
  }
  return out;
}

v1::Device ToProto(const push::Device& in) {
  v1::Device out;
  out.set_device_id(in.device_id);
  if (const auto* a = std::get_if<push::ApnsTarget>(&in.target)) {
    out.mutable_apns()->set_device_token(a->device_token);
    out.mutable_apns()->set_sandbox(a->sandbox);
  } else if (const auto* f = std::get_if<push::FcmTarget>(&in.target)) {
    out.mutable_fcm()->set_registration_token(f->registration_token);
  } else if (const auto* w = std::get_if<push::WebPushTarget>(&in.target)) {
    out.mutable_web_push()->set_endpoint(w->endpoint);
    out.mutable_web_push()->set_p256dh(w->p256dh);
    out.mutable_web_push()->set_auth(w->auth);
  }
  out.set_locale(in.locale);
  const int64_t s = absl::ToUnixSeconds(in.create_time);
  out.mutable_create_time()->set_seconds(s);
  out.mutable_create_time()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(in.create_time - absl::FromUnixSeconds(s))));
  return out;
}

absl::Status ValidateDeviceProto(const v1::Device& device, const push::EndpointPolicy& policy) {
  return push::ValidateDevice(FromProto(device), policy);
}

std::string TargetKeyOf(const v1::Device& device) {
  return push::TargetKey(FromProto(device).target);
}

std::string NewDeviceId() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  absl::MutexLock lock(&mu);
  const uint64_t hi = absl::Uniform<uint64_t>(*gen);
  const uint32_t lo = absl::Uniform<uint32_t>(*gen);
  return absl::StrFormat("d%016x%08x", hi, lo);
}

}  // namespace legwise::reminder
