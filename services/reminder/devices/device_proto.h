// legwise.reminder.v1.Device <-> push::Device (field for field), and the registration check.
#ifndef LEGWISE_SERVICES_REMINDER_DEVICES_DEVICE_PROTO_H_
#define LEGWISE_SERVICES_REMINDER_DEVICES_DEVICE_PROTO_H_

#include <string>

#include "absl/status/status.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/reminder/push/device.h"
#include "services/reminder/push/endpoint.h"

namespace legwise::reminder {

push::Device FromProto(const legwise::reminder::v1::Device& in);
legwise::reminder::v1::Device ToProto(const push::Device& in);

// ValidateDevice on the proto: OK, or INVALID_ARGUMENT (reason INVALID_DEVICE) naming every bad
// field under "device" (e.g. "device.web_push.p256dh"); never echoes a value.
absl::Status ValidateDeviceProto(const legwise::reminder::v1::Device& device,
                                 const push::EndpointPolicy& policy);

// TargetKey of a stored device's target.
std::string TargetKeyOf(const legwise::reminder::v1::Device& device);

// A fresh server-assigned device id: "d" + 24 hex characters (96 random bits).
std::string NewDeviceId();

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_DEVICES_DEVICE_PROTO_H_
