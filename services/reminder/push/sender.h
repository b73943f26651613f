// PushSender: sends pushes to APNs, FCM and Web Push push services through libcurl's multi
// interface, HTTP/2 multiplexed (one connection carries many pushes), from one loop thread.
//
// Each accepted job ends in exactly one call of its callback, on the loop thread, with a final
// outcome (delivered, unregistered, expired, quiet_hours, rejected) or, when the sender shut down
// first, kAborted (not final: the feed entry stays pending and another replica takes it). 429, 5xx,
// timeouts and network errors are retried here with exponential backoff and jitter, never sooner
// than Retry-After, and never past the nudge's usefulness (then it is dropped and counted). Every
// attempt of one nudge carries the same collapse id / Topic, so the device shows one notification.
//
// Bounded: at most `max_in_flight` requests at once and `max_pending` accepted jobs (queued, in
// flight or waiting to retry); past that Submit answers RESOURCE_EXHAUSTED at once. Every request
// has a deadline. Metrics per provider and outcome; logs carry no token, endpoint or nudge text.
#ifndef LEGWISE_SERVICES_REMINDER_PUSH_SENDER_H_
#define LEGWISE_SERVICES_REMINDER_PUSH_SENDER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/metrics.h"
#include "services/reminder/push/credentials.h"
#include "services/reminder/push/device.h"
#include "services/reminder/push/endpoint.h"
#include "services/reminder/push/outcome.h"
#include "services/reminder/push/request.h"

namespace legwise::push {

struct ApnsOptions {
  ApnsCredentials credentials;
  std::string topic;                                    // the app's bundle id (--apns_topic)
  std::string endpoint = "https://api.push.apple.com";  // --apns_endpoint
  std::string sandbox_endpoint = "https://api.sandbox.push.apple.com";  // sandbox devices
  absl::Duration token_refresh = absl::Minutes(50);
};

struct FcmOptions {
  FcmCredentials credentials;
  std::string endpoint = "https://fcm.googleapis.com";  // --fcm_endpoint
};

struct SenderOptions {
  std::optional<ApnsOptions> apns;        // unset: APNs devices are refused at Submit
  std::optional<FcmOptions> fcm;          // unset: FCM devices are refused
  std::optional<VapidCredentials> vapid;  // unset: Web Push devices are refused
  EndpointPolicy endpoint_policy;
  // A CA bundle to trust instead of the system's (tests: the loopback providers' CA).
  std::string ca_file;
  // Tests only: libcurl CURLOPT_RESOLVE entries "host:port:address", answered as if by DNS (to
  // show that a name resolving to an internal address is refused when the socket is opened).
  std::vector<std::string> resolve;
  absl::Duration request_timeout = absl::Seconds(10);
  absl::Duration connect_timeout = absl::Seconds(5);
  int max_in_flight = 2000;  // over every loop thread
  // Event-loop threads, each with its own libcurl multi handle, connections and provider tokens;
  // jobs go to one by their device id. libcurl's per-request cost bounds one loop to about a core.
  int loop_threads = 1;
  int max_pending = 100000;
  int max_connections_per_host = 4;
  // Streams libcurl multiplexes on one connection before it opens another (the server's SETTINGS
  // bound it too; APNs allows up to 1,000).
  int max_streams_per_connection = 100;
  RetryPolicy retry;
  Metrics* metrics = nullptr;  // nullptr: Metrics::Default()
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// One push: a device's target and the nudge for it.
struct PushJob {
  std::string device_id;
  DeviceTarget target;
  PushMessage message;
};

struct PushResult {
  Outcome outcome = Outcome::kAborted;
  std::string reason;    // fixed vocabulary (see Classification::reason)
  int attempts = 0;      // HTTP requests made
  long http_status = 0;  // of the last attempt; 0 when none answered
};

using PushCallback = absl::AnyInvocable<void(const PushResult&)>;

class PushSender {
 public:
  // Checks the options (a provider's endpoint must be http(s)) and starts the loop thread.
  static absl::StatusOr<std::unique_ptr<PushSender>> Create(SenderOptions options);
  ~PushSender();  // Shutdown(zero) when not done yet
  PushSender(const PushSender&) = delete;
  PushSender& operator=(const PushSender&) = delete;

  // Accepts a job, or refuses it at once: INVALID_ARGUMENT (a malformed target or message, fields
  // named), FAILED_PRECONDITION (its provider is not configured), RESOURCE_EXHAUSTED (full),
  // UNAVAILABLE (shutting down). Web Push payloads are encrypted here, on the caller's thread.
  // `done` runs on the loop thread and must not block; it may Submit, not Shutdown.
  absl::Status Submit(PushJob job, PushCallback done);

  // Refuses new jobs, aborts those not yet in flight, lets in-flight requests finish for up to
  // `grace`, then aborts the rest; returns when every callback has run.
  void Shutdown(absl::Duration grace);

  // Accepted jobs whose callback has not run yet.
  int pending() const { return pending_.load(std::memory_order_relaxed); }

  struct Loop;  // the loop thread's state (sender.cc)

 private:
  explicit PushSender(SenderOptions options);

  SenderOptions options_;
  std::atomic<int> pending_{0};
  // One APNs provider token for the whole sender (declared before the loops that use it).
  std::unique_ptr<ApnsTokenCache> apns_tokens_;
  std::vector<std::unique_ptr<Loop>> loops_;
};

}  // namespace legwise::push

#endif  // LEGWISE_SERVICES_REMINDER_PUSH_SENDER_H_
