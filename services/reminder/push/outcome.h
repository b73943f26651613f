// What one provider's answer means for a push, as Apple's, Google's and RFC 8030's documentation
// say: done, forget the device, try again later (never sooner than Retry-After), or give up. And
// the retry schedule: exponential backoff with jitter.
#ifndef LEGWISE_SERVICES_REMINDER_PUSH_OUTCOME_H_
#define LEGWISE_SERVICES_REMINDER_PUSH_OUTCOME_H_

#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace legwise::push {

enum class Outcome {
  kDelivered,     // 2xx: the provider took it
  kUnregistered,  // the device is gone (APNs 410 / 400 BadDeviceToken, FCM 404 UNREGISTERED, Web
                  // Push 404 / 410): forget it, never try it again
  kRetry,         // 429, 5xx, a timeout or a network error: try again after a backoff
  kExpired,       // past its TTL: dropped, not sent late
  kQuietHours,    // would now land in her quiet hours: dropped
  kRejected,      // a permanent refusal that is not the device's fault (payload, our credentials,
                  // a refused endpoint): not retried, counted, the device kept
  kAborted,       // the sender shut down first: not final, the feed entry stays pending
};

// "delivered", "unregistered", ...: the metric label.
absl::string_view OutcomeName(Outcome outcome);
// Whether the feed entry can be acknowledged (every outcome but kRetry and kAborted).
bool IsFinal(Outcome outcome);

// One attempt's meaning.
struct Classification {
  Outcome outcome = Outcome::kRetry;
  // The provider's reason in a fixed vocabulary ("BadDeviceToken", "UNREGISTERED", "http_410",
  // "timeout"...), safe to log and label: never text the remote side chose freely.
  std::string reason;
  // The wait the provider asked for (Retry-After); zero when none.
  absl::Duration retry_after = absl::ZeroDuration();
  // Our provider token or access token was refused as expired: make a new one, then retry.
  bool refresh_credentials = false;
};

// HTTP answers. `body` is the response body (APNs {"reason": ...}; FCM google.rpc.Status JSON);
// `retry_after` the Retry-After header's value ("" when absent).
Classification ClassifyApns(long http_status, absl::string_view body, absl::string_view retry_after,
                            absl::Time now);
Classification ClassifyFcm(long http_status, absl::string_view body, absl::string_view retry_after,
                           absl::Time now);
Classification ClassifyWebPush(long http_status, absl::string_view retry_after, absl::Time now);
// No HTTP answer: a timeout or a network error (retried: the push may or may not have arrived,
// and the collapse id makes a second copy replace the first), or our SSRF check refusing the
// address (rejected).
Classification ClassifyTransportFailure(bool timed_out, bool address_refused);

// Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date. Zero when absent, malformed or in
// the past; at most `cap`.
absl::Duration ParseRetryAfter(absl::string_view value, absl::Time now,
                               absl::Duration cap = absl::Hours(24));

struct RetryPolicy {
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Minutes(10);
  int max_attempts = 8;  // including the first
};

// The wait before attempt `failed_attempts + 1`: base = initial * 2^(failed_attempts - 1) capped
// at max_backoff, jittered uniformly in [base / 2, base] so that replicas retrying after one outage
// spread out, and never shorter than `retry_after`.
absl::Duration Backoff(const RetryPolicy& policy, int failed_attempts, absl::Duration retry_after,
                       absl::BitGenRef rng);

}  // namespace legwise::push

#endif  // LEGWISE_SERVICES_REMINDER_PUSH_OUTCOME_H_
