// What is pushed, and each provider's HTTP request for it, as pure functions (the sender adds the
// transport). One nudge occurrence maps to one collapse id, so a retry, or a second replica
// sending after a lost acknowledgement, replaces the first notification instead of adding one.
#ifndef LEGWISE_SERVICES_REMINDER_PUSH_REQUEST_H_
#define LEGWISE_SERVICES_REMINDER_PUSH_REQUEST_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/reminder/push/device.h"

namespace legwise::push {

// One due nudge for one device. The reminder's delivery feed fills it from the Nudge it published.
struct PushMessage {
  std::string nudge_id;  // stable per occurrence
  std::string kind;      // the NudgeKind name as in the proto JSON mapping: "NUDGE_KIND_HYDRATION"
  std::string title;
  std::string body;
  absl::Time due_time = absl::UnixEpoch();
  std::string local_time;  // ISO-8601 with her offset, as Nudge.local_time
  std::string locale;
  // Past this the nudge is useless (its TTL): never delivered later, by us or by the provider.
  absl::Time expire_time = absl::InfiniteFuture();
  // When her next quiet hours begin after due_time: from then on it is dropped too.
  absl::Time quiet_hours_start = absl::InfiniteFuture();
};

// The earlier of expire_time and quiet_hours_start: the last moment the push may arrive.
absl::Time NotAfter(const PushMessage& message);
// Whether a push arriving at `when` would be too late; `*quiet_hours` then says whether her quiet
// hours (rather than the TTL) are the bound that passed.
bool PastUsefulness(const PushMessage& message, absl::Time when, bool* quiet_hours);

// Bounds and encoding: nudge_id 1..128 printable ASCII, kind 1..64, title <= 200 bytes, body
// <= 1000 bytes, local_time <= 40, locale <= 35, all valid UTF-8. INVALID_ARGUMENT naming the
// field.
absl::Status ValidateMessage(const PushMessage& message);

// The payload JSON every provider carries (encrypted for Web Push):
// {"nudge_id","kind","title","body","due_time" (RFC 3339 UTC),"local_time","locale"}.
std::string PayloadJson(const PushMessage& message);

// 32 base64url characters of SHA-256(nudge_id): an APNs apns-collapse-id (<= 64 bytes), a Web
// Push Topic (<= 32 characters of the base64url alphabet, RFC 8030 5.4), an FCM collapse_key and
// Android notification tag. Not the nudge id itself, which the provider need not see.
std::string CollapseId(absl::string_view nudge_id);

// Whole seconds from `now` until NotAfter (0 when past).
int64_t RemainingTtlSeconds(const PushMessage& message, absl::Time now);

// --- APNs: POST {endpoint}/3/device/{token} ------------------------------------------------------
inline constexpr size_t kMaxApnsPayload = 4096;
std::string ApnsUrl(absl::string_view endpoint, const ApnsTarget& target);
// {"aps":{"alert":{"title","body"},"interruption-level":"passive","thread-id":kind}, + PayloadJson
// members}. Passive: a routine nudge must not break through Focus or light the screen at night.
std::string ApnsPayload(const PushMessage& message);
std::vector<std::string> ApnsHeaders(const PushMessage& message, absl::string_view topic,
                                     absl::string_view provider_token);

// --- FCM HTTP v1: POST {endpoint}/v1/projects/{project_id}/messages:send
// ----------------------------
inline constexpr size_t kMaxFcmPayload = 4096;
std::string FcmUrl(absl::string_view endpoint, absl::string_view project_id);
// {"message":{"token","notification":{title,body},"data":{PayloadJson members as strings},
//  "android":{"priority":"NORMAL","ttl":"<remaining>s","collapse_key","notification":{"tag"}}}}
std::string FcmBody(const FcmTarget& target, const PushMessage& message, absl::Time now);
std::vector<std::string> FcmHeaders(absl::string_view access_token);

// --- Web Push (RFC 8030 + 8291 + 8292): POST {endpoint} ------------------------------------------
// TTL (remaining seconds), Urgency: normal, Topic, Content-Encoding: aes128gcm, the VAPID
// Authorization (`vapid t=..., k=...`).
std::vector<std::string> WebPushHeaders(const PushMessage& message, absl::string_view authorization,
                                        absl::Time now);

}  // namespace legwise::push

#endif  // LEGWISE_SERVICES_REMINDER_PUSH_REQUEST_H_
