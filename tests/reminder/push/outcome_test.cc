// What each provider's answer means, Retry-After, and the backoff schedule.
#include "services/reminder/push/outcome.h"

#include "absl/random/random.h"
#include "gtest/gtest.h"

namespace legwise::push {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

struct Case {
  long status;
  std::string body;
  Outcome outcome;
  std::string reason;
  bool refresh = false;
};

TEST(OutcomeTest, Apns) {
  const Case cases[] = {
      {200, "", Outcome::kDelivered, "ok"},
      {410, R"({"reason":"Unregistered","timestamp":1800000000000})", Outcome::kUnregistered,
       "Unregistered"},
      {410, R"({"reason":"ExpiredToken"})", Outcome::kUnregistered, "ExpiredToken"},
      {400, R"({"reason":"BadDeviceToken"})", Outcome::kUnregistered, "BadDeviceToken"},
      {400, R"({"reason":"BadCollapseId"})", Outcome::kRejected, "BadCollapseId"},
      {400, R"({"reason":"DeviceTokenNotForTopic"})", Outcome::kRejected, "DeviceTokenNotForTopic"},
      {403, R"({"reason":"ExpiredProviderToken"})", Outcome::kRetry, "ExpiredProviderToken", true},
      {403, R"({"reason":"InvalidProviderToken"})", Outcome::kRejected, "InvalidProviderToken"},
      {413, R"({"reason":"PayloadTooLarge"})", Outcome::kRejected, "PayloadTooLarge"},
      {429, R"({"reason":"TooManyRequests"})", Outcome::kRetry, "TooManyRequests"},
      {500, R"({"reason":"InternalServerError"})", Outcome::kRetry, "InternalServerError"},
      {503, R"({"reason":"ServiceUnavailable"})", Outcome::kRetry, "ServiceUnavailable"},
      {502, "<html>bad gateway</html>", Outcome::kRetry, "http_502"},
      // A reason we do not know is not echoed into logs or labels.
      {400, R"({"reason":"<script>alert(1)</script>"})", Outcome::kRejected, "http_400"},
      {301, "", Outcome::kRejected, "http_301"},
  };
  for (const Case& c : cases) {
    Classification got = ClassifyApns(c.status, c.body, "", kNow);
    EXPECT_EQ(got.outcome, c.outcome) << c.status << " " << c.body;
    EXPECT_EQ(got.reason, c.reason) << c.status << " " << c.body;
    EXPECT_EQ(got.refresh_credentials, c.refresh) << c.status << " " << c.body;
  }
  EXPECT_EQ(ClassifyApns(429, "", "30", kNow).retry_after, absl::Seconds(30));
}

std::string FcmError(int code, const std::string& status, const std::string& error_code) {
  std::string details =
      error_code.empty()
          ? ""
          : R"(,"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":")" +
                error_code + R"("}])";
  return R"({"error":{"code":)" + std::to_string(code) + R"(,"message":"m","status":")" + status +
         "\"" + details + "}}";
}

TEST(OutcomeTest, Fcm) {
  const Case cases[] = {
      {200, R"({"name":"projects/p/messages/1"})", Outcome::kDelivered, "ok"},
      {404, FcmError(404, "NOT_FOUND", "UNREGISTERED"), Outcome::kUnregistered, "UNREGISTERED"},
      {400, FcmError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"), Outcome::kRejected,
       "INVALID_ARGUMENT"},
      {403, FcmError(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), Outcome::kRejected,
       "SENDER_ID_MISMATCH"},
      {401, FcmError(401, "UNAUTHENTICATED", ""), Outcome::kRetry, "UNAUTHENTICATED", true},
      {429, FcmError(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), Outcome::kRetry,
       "QUOTA_EXCEEDED"},
      {500, FcmError(500, "INTERNAL", "INTERNAL"), Outcome::kRetry, "INTERNAL"},
      {503, FcmError(503, "UNAVAILABLE", "UNAVAILABLE"), Outcome::kRetry, "UNAVAILABLE"},
      {502, "not json", Outcome::kRetry, "http_502"},
      {404, FcmError(404, "NOT_FOUND", ""), Outcome::kRejected, "NOT_FOUND"},  // wrong project
      {400, FcmError(400, "EVIL\"", "EVIL"), Outcome::kRejected, "http_400"},
  };
  for (const Case& c : cases) {
    Classification got = ClassifyFcm(c.status, c.body, "", kNow);
    EXPECT_EQ(got.outcome, c.outcome) << c.status << " " << c.body;
    EXPECT_EQ(got.reason, c.reason) << c.status << " " << c.body;
    EXPECT_EQ(got.refresh_credentials, c.refresh) << c.status << " " << c.body;
  }
  EXPECT_EQ(ClassifyFcm(429, FcmError(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), "7", kNow)
                .retry_after,
            absl::Seconds(7));
}

TEST(OutcomeTest, WebPush) {
  EXPECT_EQ(ClassifyWebPush(201, "", kNow).outcome, Outcome::kDelivered);
  EXPECT_EQ(ClassifyWebPush(202, "", kNow).outcome, Outcome::kDelivered);
  for (long gone : {404L, 410L}) {
    EXPECT_EQ(ClassifyWebPush(gone, "", kNow).outcome, Outcome::kUnregistered) << gone;
  }
  for (long retry : {429L, 500L, 502L, 503L}) {
    EXPECT_EQ(ClassifyWebPush(retry, "", kNow).outcome, Outcome::kRetry) << retry;
  }
  for (long permanent : {301L, 302L, 307L, 400L, 401L, 403L, 413L}) {
    Classification c = ClassifyWebPush(permanent, "", kNow);
    EXPECT_EQ(c.outcome, Outcome::kRejected) << permanent;
    EXPECT_EQ(c.reason, "http_" + std::to_string(permanent));
  }
  EXPECT_EQ(ClassifyWebPush(429, "120", kNow).retry_after, absl::Seconds(120));
}

TEST(OutcomeTest, Transport) {
  EXPECT_EQ(ClassifyTransportFailure(true, false).outcome, Outcome::kRetry);
  EXPECT_EQ(ClassifyTransportFailure(true, false).reason, "timeout");
  EXPECT_EQ(ClassifyTransportFailure(false, false).reason, "network_error");
  EXPECT_EQ(ClassifyTransportFailure(false, true).outcome, Outcome::kRejected);
  EXPECT_EQ(ClassifyTransportFailure(false, true).reason, "address_refused");
}

TEST(OutcomeTest, FinalOutcomes) {
  for (Outcome o : {Outcome::kDelivered, Outcome::kUnregistered, Outcome::kExpired,
                    Outcome::kQuietHours, Outcome::kRejected}) {
    EXPECT_TRUE(IsFinal(o)) << OutcomeName(o);
  }
  EXPECT_FALSE(IsFinal(Outcome::kRetry));
  EXPECT_FALSE(IsFinal(Outcome::kAborted));
}

TEST(RetryAfterTest, SecondsAndHttpDates) {
  EXPECT_EQ(ParseRetryAfter("120", kNow), absl::Seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 5 ", kNow), absl::Seconds(5));
  EXPECT_EQ(ParseRetryAfter("", kNow), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("0", kNow), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("-5", kNow), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("soon", kNow), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("1.5", kNow), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("99999999999", kNow), absl::Hours(24));
  std::string in_90s =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", kNow + absl::Seconds(90), absl::UTCTimeZone());
  EXPECT_EQ(ParseRetryAfter(in_90s, kNow), absl::Seconds(90));
  std::string past =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", kNow - absl::Hours(1), absl::UTCTimeZone());
  EXPECT_EQ(ParseRetryAfter(past, kNow), absl::ZeroDuration());
}

// Property: the wait doubles per failure up to the cap, is jittered within [base / 2, base], and
// is never shorter than Retry-After.
TEST(BackoffTest, ExponentialJitteredCappedNeverBeforeRetryAfter) {
  RetryPolicy policy;
  policy.initial_backoff = absl::Seconds(1);
  policy.max_backoff = absl::Minutes(10);
  absl::BitGen rng;
  for (int failed = 1; failed <= 30; ++failed) {
    absl::Duration base =
        std::min(absl::Seconds(1) * (1LL << std::min(failed - 1, 20)), policy.max_backoff);
    absl::Duration lowest = absl::InfiniteDuration(), highest = absl::ZeroDuration();
    for (int i = 0; i < 200; ++i) {
      absl::Duration d = Backoff(policy, failed, absl::ZeroDuration(), rng);
      ASSERT_GE(d, base / 2) << failed;
      ASSERT_LE(d, base) << failed;
      lowest = std::min(lowest, d);
      highest = std::max(highest, d);
      absl::Duration retry_after = absl::Seconds(i * 7);
      ASSERT_GE(Backoff(policy, failed, retry_after, rng), retry_after);
    }
    EXPECT_LT(lowest, highest) << "no jitter at " << failed;
  }
}

}  // namespace
}  // namespace legwise::push
