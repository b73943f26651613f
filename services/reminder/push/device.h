// A device a nudge can be pushed to, and the checks a registration must pass. The names follow the
// API contract's Device message (legwise.reminder.v1: device_id, oneof target { apns, fcm,
// web_push }, locale, create_time); these structs stand in for the proto until the RPCs land, and
// the adapter will copy field by field.
#ifndef LEGWISE_SERVICES_REMINDER_PUSH_DEVICE_H_
#define LEGWISE_SERVICES_REMINDER_PUSH_DEVICE_H_

#include <string>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/common/validation.h"
#include "services/reminder/push/endpoint.h"

namespace legwise::push {

// Apple Push Notification service: the app's device token, 64 hex characters.
struct ApnsTarget {
  std::string device_token;
  bool sandbox = false;  // a development build: sent to APNs' development host
};

// Firebase Cloud Messaging (HTTP v1): the app instance's registration token.
struct FcmTarget {
  std::string registration_token;
};

// A browser's PushSubscription.toJSON(): endpoint, keys.p256dh and keys.auth (base64url).
struct WebPushTarget {
  std::string endpoint;
  std::string p256dh;
  std::string auth;
};

using DeviceTarget = std::variant<std::monostate, ApnsTarget, FcmTarget, WebPushTarget>;

struct Device {
  std::string device_id;  // server-assigned
  DeviceTarget target;
  std::string locale;  // BCP-47, "" = the plan's
  absl::Time create_time = absl::UnixEpoch();
};

enum class Provider { kApns, kFcm, kWebPush };
// "apns", "fcm", "web_push": the metric label and the log field.
absl::string_view ProviderName(Provider provider);
// The provider of a target; false for an empty target.
bool ProviderOf(const DeviceTarget& target, Provider* provider);

// At most this many devices per user (the device store enforces it; here for the adapter's
// message).
inline constexpr int kMaxDevicesPerUser = 10;
// The bounds on what one registration makes us store.
inline constexpr size_t kMaxFcmTokenLength = 4096;
inline constexpr size_t kMaxLocaleLength = 35;

// Checks a device a user registers, adding one violation per problem with its AIP-193 field path
// under `prefix` (e.g. "device" -> "device.web_push.p256dh"). Descriptions never echo the value.
// device_id and create_time are the server's and are not checked here.
void ValidateDevice(const Device& device, const EndpointPolicy& policy, absl::string_view prefix,
                    FieldViolations* violations);
// The same as a status: OK, or INVALID_ARGUMENT (reason INVALID_DEVICE) naming every field.
absl::Status ValidateDevice(const Device& device, const EndpointPolicy& policy);

// The pieces, for callers that hold one target.
void ValidateApnsTarget(const ApnsTarget& target, absl::string_view prefix,
                        FieldViolations* violations);
void ValidateFcmTarget(const FcmTarget& target, absl::string_view prefix,
                       FieldViolations* violations);
void ValidateWebPushTarget(const WebPushTarget& target, const EndpointPolicy& policy,
                           absl::string_view prefix, FieldViolations* violations);

// A key that identifies the target (not the device id): the same target registered twice maps to
// the same key, so the store can answer the existing device. A hash; the token never appears.
std::string TargetKey(const DeviceTarget& target);

}  // namespace legwise::push

#endif  // LEGWISE_SERVICES_REMINDER_PUSH_DEVICE_H_
