#include "services/reminder/push/request.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/validation.h"
#include "services/reminder/push/crypto.h"

namespace legwise::push {
namespace {

bool IsUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    int extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      unsigned char n = s[i + k];
      if ((n & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (n & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
    i += extra + 1;
  }
  return true;
}

void CheckText(FieldViolations* v, absl::string_view field, absl::string_view value, size_t max,
               bool required) {
  if (value.empty()) {
    if (required) v->Add(std::string(field), "is required");
  } else if (value.size() > max) {
    v->Add(std::string(field), absl::StrCat("is longer than ", max, " bytes"));
  } else if (!IsUtf8(value)) {
    v->Add(std::string(field), "must be UTF-8");
  }
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// The payload members without the braces, shared by APNs' and Web Push's JSON.
std::string PayloadMembers(const PushMessage& m) {
  return absl::StrCat(R"("nudge_id":")", JsonEscape(m.nudge_id), R"(","kind":")",
                      JsonEscape(m.kind), R"(","title":")", JsonEscape(m.title), R"(","body":")",
                      JsonEscape(m.body), R"(","due_time":")", Rfc3339(m.due_time),
                      R"(","local_time":")", JsonEscape(m.local_time), R"(","locale":")",
                      JsonEscape(m.locale), R"(")");
}

}  // namespace

absl::Time NotAfter(const PushMessage& message) {
  return std::min(message.expire_time, message.quiet_hours_start);
}

bool PastUsefulness(const PushMessage& message, absl::Time when, bool* quiet_hours) {
  *quiet_hours = message.quiet_hours_start <= message.expire_time;
  return when >= NotAfter(message);
}

absl::Status ValidateMessage(const PushMessage& m) {
  FieldViolations v;
  CheckText(&v, "nudge_id", m.nudge_id, 128, true);
  for (char c : m.nudge_id) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      v.Add("nudge_id", "must be printable ASCII");
      break;
    }
  }
  CheckText(&v, "kind", m.kind, 64, true);
  CheckText(&v, "title", m.title, 200, true);
  CheckText(&v, "body", m.body, 1000, false);
  CheckText(&v, "local_time", m.local_time, 40, false);
  CheckText(&v, "locale", m.locale, 35, false);
  return v.ToStatus("INVALID_PUSH_MESSAGE");
}

std::string PayloadJson(const PushMessage& message) {
  return absl::StrCat("{", PayloadMembers(message), "}");
}

std::string CollapseId(absl::string_view nudge_id) {
  return Base64UrlEncode(Sha256(absl::StrCat("legwise-nudge:", nudge_id))).substr(0, 32);
}

int64_t RemainingTtlSeconds(const PushMessage& message, absl::Time now) {
  absl::Time not_after = NotAfter(message);
  if (not_after == absl::InfiniteFuture()) return 28 * 24 * 3600;  // the longest any provider keeps
  return std::max<int64_t>(0, absl::ToInt64Seconds(not_after - now));
}

std::string ApnsUrl(absl::string_view endpoint, const ApnsTarget& target) {
  return absl::StrCat(endpoint, "/3/device/", target.device_token);
}

std::string ApnsPayload(const PushMessage& m) {
  return absl::StrCat(R"({"aps":{"alert":{"title":")", JsonEscape(m.title), R"(","body":")",
                      JsonEscape(m.body), R"("},"interruption-level":"passive","thread-id":")",
                      JsonEscape(m.kind), R"("},)", PayloadMembers(m), "}");
}

std::vector<std::string> ApnsHeaders(const PushMessage& message, absl::string_view topic,
                                     absl::string_view provider_token) {
  absl::Time not_after = NotAfter(message);
  // apns-expiration 0 would mean "deliver once or never"; a nudge always has a bound, or gets a
  // day.
  int64_t expiration = not_after == absl::InfiniteFuture()
                           ? absl::ToUnixSeconds(message.due_time + absl::Hours(24))
                           : absl::ToUnixSeconds(not_after);
  return {absl::StrCat("authorization: bearer ", provider_token),
          absl::StrCat("apns-topic: ", topic),
          "apns-push-type: alert",
          "apns-priority: 5",
          absl::StrCat("apns-expiration: ", std::max<int64_t>(expiration, 1)),
          absl::StrCat("apns-collapse-id: ", CollapseId(message.nudge_id)),
          "content-type: application/json"};
}

std::string FcmUrl(absl::string_view endpoint, absl::string_view project_id) {
  return absl::StrCat(endpoint, "/v1/projects/", project_id, "/messages:send");
}

std::string FcmBody(const FcmTarget& target, const PushMessage& m, absl::Time now) {
  std::string collapse = CollapseId(m.nudge_id);
  return absl::StrCat(R"({"message":{"token":")", JsonEscape(target.registration_token),
                      R"(","notification":{"title":")", JsonEscape(m.title), R"(","body":")",
                      JsonEscape(m.body), R"("},"data":{)", PayloadMembers(m),
                      R"(},"android":{"priority":"NORMAL","ttl":")", RemainingTtlSeconds(m, now),
                      R"(s","collapse_key":")", collapse, R"(","notification":{"tag":")", collapse,
                      R"("}}}})");
}

std::vector<std::string> FcmHeaders(absl::string_view access_token) {
  return {absl::StrCat("authorization: Bearer ", access_token),
          "content-type: application/json; charset=utf-8"};
}

std::vector<std::string> WebPushHeaders(const PushMessage& message, absl::string_view authorization,
                                        absl::Time now) {
  // Urgency normal: a routine reminder, not worth waking a phone on battery at "high", but it
  // should not wait for a charger either ("low" and "very-low" may).
  return {absl::StrCat("ttl: ", RemainingTtlSeconds(message, now)),
          "urgency: normal",
          absl::StrCat("topic: ", CollapseId(message.nudge_id)),
          "content-encoding: aes128gcm",
          "content-type: application/octet-stream",
          absl::StrCat("authorization: ", authorization)};
}

}  // namespace legwise::push
