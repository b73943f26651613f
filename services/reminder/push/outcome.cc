#include "services/reminder/push/outcome.h"

#include <algorithm>
#include <cmath>

#include "absl/random/distributions.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace legwise::push {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

bool ParseJson(absl::string_view body, Struct* out) {
  if (body.empty() || body.size() > 64 * 1024) return false;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(std::string(body), out, options).ok();
}

std::string StringField(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end() || it->second.kind_case() != Value::kStringValue) return "";
  return it->second.string_value();
}

// Only a name from `known` is returned as is; anything else the remote side wrote becomes
// `fallback`, so a hostile or buggy endpoint cannot put its own text into our logs and labels.
std::string Known(absl::string_view value, std::initializer_list<absl::string_view> known,
                  absl::string_view fallback) {
  for (absl::string_view k : known) {
    if (value == k) return std::string(k);
  }
  return std::string(fallback);
}

Classification Make(Outcome outcome, std::string reason, absl::Duration retry_after = {},
                    bool refresh = false) {
  Classification c;
  c.outcome = outcome;
  c.reason = std::move(reason);
  c.retry_after = retry_after;
  c.refresh_credentials = refresh;
  return c;
}

// FCM errors are google.rpc.Status JSON; the FCM-specific code sits in a details entry of type
// google.firebase.fcm.v1.FcmError ("errorCode": "UNREGISTERED", ...).
std::string FcmErrorCode(absl::string_view body, std::string* status) {
  Struct root;
  if (!ParseJson(body, &root)) return "";
  auto error = root.fields().find("error");
  if (error == root.fields().end() || !error->second.has_struct_value()) return "";
  const Struct& e = error->second.struct_value();
  *status = StringField(e, "status");
  auto details = e.fields().find("details");
  if (details == e.fields().end() || !details->second.has_list_value()) return "";
  for (const Value& d : details->second.list_value().values()) {
    if (!d.has_struct_value()) continue;
    std::string code = StringField(d.struct_value(), "errorCode");
    if (!code.empty()) return code;
  }
  return "";
}

}  // namespace

absl::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kDelivered:
      return "delivered";
    case Outcome::kUnregistered:
      return "unregistered";
    case Outcome::kRetry:
      return "retry";
    case Outcome::kExpired:
      return "expired";
    case Outcome::kQuietHours:
      return "quiet_hours";
    case Outcome::kRejected:
      return "rejected";
    case Outcome::kAborted:
      return "aborted";
  }
  return "unknown";
}

bool IsFinal(Outcome outcome) { return outcome != Outcome::kRetry && outcome != Outcome::kAborted; }

Classification ClassifyApns(long http_status, absl::string_view body, absl::string_view retry_after,
                            absl::Time now) {
  if (http_status >= 200 && http_status < 300) return Make(Outcome::kDelivered, "ok");
  Struct root;
  std::string raw_reason = ParseJson(body, &root) ? StringField(root, "reason") : "";
  std::string reason = Known(raw_reason,
                             {"BadCollapseId",
                              "BadDeviceToken",
                              "BadExpirationDate",
                              "BadMessageId",
                              "BadPriority",
                              "BadTopic",
                              "DeviceTokenNotForTopic",
                              "DuplicateHeaders",
                              "IdleTimeout",
                              "InvalidPushType",
                              "MissingDeviceToken",
                              "MissingTopic",
                              "PayloadEmpty",
                              "TopicDisallowed",
                              "BadCertificate",
                              "BadCertificateEnvironment",
                              "ExpiredProviderToken",
                              "Forbidden",
                              "InvalidProviderToken",
                              "MissingProviderToken",
                              "UnrelatedKeyIdInToken",
                              "BadPath",
                              "MethodNotAllowed",
                              "ExpiredToken",
                              "Unregistered",
                              "PayloadTooLarge",
                              "TooManyProviderTokenUpdates",
                              "TooManyRequests",
                              "InternalServerError",
                              "ServiceUnavailable",
                              "Shutdown"},
                             absl::StrCat("http_", http_status));
  absl::Duration wait = ParseRetryAfter(retry_after, now);
  // Apple: 410 "the device token is no longer active for the topic"; 400 BadDeviceToken "the
  // specified device token is invalid" (our validation keeps malformed ones out, so this one was
  // issued and is no longer valid, or belongs to the other environment: either way, stop).
  if (http_status == 410 || (http_status == 400 && raw_reason == "BadDeviceToken")) {
    return Make(Outcome::kUnregistered, reason);
  }
  if (http_status == 403 && raw_reason == "ExpiredProviderToken") {
    return Make(Outcome::kRetry, reason, wait, /*refresh=*/true);
  }
  if (http_status == 429 || http_status >= 500) return Make(Outcome::kRetry, reason, wait);
  return Make(Outcome::kRejected, reason);
}

Classification ClassifyFcm(long http_status, absl::string_view body, absl::string_view retry_after,
                           absl::Time now) {
  if (http_status >= 200 && http_status < 300) return Make(Outcome::kDelivered, "ok");
  std::string status;
  std::string raw_code = FcmErrorCode(body, &status);
  std::string reason =
      Known(raw_code,
            {"UNSPECIFIED_ERROR", "INVALID_ARGUMENT", "UNREGISTERED", "SENDER_ID_MISMATCH",
             "QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL", "THIRD_PARTY_AUTH_ERROR"},
            "");
  if (reason.empty()) {
    reason = Known(status,
                   {"UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND", "INVALID_ARGUMENT",
                    "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL"},
                   absl::StrCat("http_", http_status));
  }
  absl::Duration wait = ParseRetryAfter(retry_after, now);
  // Google: "UNREGISTERED (HTTP 404): the app instance was unregistered from FCM. This usually
  // means that the token used is no longer valid and a new one must be used."
  if (raw_code == "UNREGISTERED") return Make(Outcome::kUnregistered, reason);
  // 401: our OAuth access token expired or was revoked; a new one, then again.
  if (http_status == 401) return Make(Outcome::kRetry, reason, wait, /*refresh=*/true);
  if (http_status == 429 || http_status >= 500) return Make(Outcome::kRetry, reason, wait);
  return Make(Outcome::kRejected, reason);
}

Classification ClassifyWebPush(long http_status, absl::string_view retry_after, absl::Time now) {
  std::string reason = absl::StrCat("http_", http_status);
  if (http_status >= 200 && http_status < 300) return Make(Outcome::kDelivered, "ok");
  // RFC 8030 7.3: an expired subscription answers 404 or 410; it will never work again.
  if (http_status == 404 || http_status == 410) return Make(Outcome::kUnregistered, reason);
  if (http_status == 429 || http_status >= 500) {
    return Make(Outcome::kRetry, reason, ParseRetryAfter(retry_after, now));
  }
  // 3xx (we never follow redirects), 400, 401/403 (VAPID refused), 413: retrying cannot help.
  return Make(Outcome::kRejected, reason);
}

Classification ClassifyTransportFailure(bool timed_out, bool address_refused) {
  if (address_refused) return Make(Outcome::kRejected, "address_refused");
  return Make(Outcome::kRetry, timed_out ? "timeout" : "network_error");
}

absl::Duration ParseRetryAfter(absl::string_view value, absl::Time now, absl::Duration cap) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return absl::ZeroDuration();
  int64_t seconds = 0;
  absl::Duration wait = absl::ZeroDuration();
  if (absl::SimpleAtoi(value, &seconds)) {
    if (seconds <= 0) return absl::ZeroDuration();
    wait = seconds > absl::ToInt64Seconds(cap) ? cap : absl::Seconds(seconds);
  } else {
    // IMF-fixdate, the form RFC 9110 requires senders to use: "Sun, 06 Nov 1994 08:49:37 GMT".
    absl::Time when;
    std::string err;
    if (!absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", value, absl::UTCTimeZone(), &when, &err)) {
      return absl::ZeroDuration();
    }
    wait = when - now;
  }
  return std::clamp(wait, absl::ZeroDuration(), cap);
}

absl::Duration Backoff(const RetryPolicy& policy, int failed_attempts, absl::Duration retry_after,
                       absl::BitGenRef rng) {
  int doublings = std::clamp(failed_attempts - 1, 0, 40);
  absl::Duration base = policy.initial_backoff;
  for (int i = 0; i < doublings && base < policy.max_backoff; ++i) base *= 2;
  base = std::min(base, policy.max_backoff);
  double fraction = absl::Uniform(absl::IntervalClosed, rng, 0.5, 1.0);
  return std::max(base * fraction, retry_after);
}

}  // namespace legwise::push
