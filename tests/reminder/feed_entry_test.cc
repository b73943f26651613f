// A delivery-feed entry parsed as legwise-push reads it, and fanned out to her devices.
#include "services/reminder/feed/feed_entry.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/reminder/push/request.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;
using Fields = std::vector<std::pair<std::string, std::string>>;

v1::Nudge Hydration() {
  v1::Nudge n;
  n.set_nudge_id("n-1");
  n.set_kind(v1::NUDGE_KIND_HYDRATION);
  n.set_title("Time for water");
  n.set_body("A glass now helps with cramps.");
  n.set_local_time("2026-06-10T10:00:00+01:00");
  n.set_locale("en");
  n.mutable_due_time()->set_seconds(1781082000);
  return n;
}

Fields EntryFields(const v1::Nudge& n) {
  return {{"nudge_id", n.nudge_id()},
          {"user", "k123"},
          {"due_ms", absl::StrCat(n.due_time().seconds() * 1000)},
          {"pub_ms", "1781082000123"},
          {"nudge", n.SerializeAsString()}};
}

TEST(FeedEntryTest, ParsesWhatThePublishScriptWrites) {
  auto e = ParseFeedEntry(EntryFields(Hydration()));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->nudge_id, "n-1");
  EXPECT_EQ(e->user_key, "k123");
  EXPECT_EQ(e->due_time, absl::FromUnixSeconds(1781082000));
  EXPECT_EQ(e->nudge.title(), "Time for water");
}

TEST(FeedEntryTest, EveryMissingOrBrokenFieldIsDataLoss) {
  const Fields full = EntryFields(Hydration());
  for (const char* drop : {"nudge_id", "user", "due_ms", "nudge"}) {
    Fields f;
    for (const auto& kv : full) {
      if (kv.first != drop) f.push_back(kv);
    }
    EXPECT_EQ(ParseFeedEntry(f).status().code(), absl::StatusCode::kDataLoss) << drop;
  }
  Fields bad = full;
  bad[2].second = "soon";
  EXPECT_EQ(ParseFeedEntry(bad).status().code(), absl::StatusCode::kDataLoss);
  bad = full;
  bad[4].second = "\xff\xff\xff";
  EXPECT_EQ(ParseFeedEntry(bad).status().code(), absl::StatusCode::kDataLoss);
}

TEST(FeedEntryTest, EveryKindHasATtlAndUnknownKindsGetTheShortest) {
  for (int k = v1::NudgeKind_MIN; k <= v1::NudgeKind_MAX; ++k) {
    if (!v1::NudgeKind_IsValid(k) || k == v1::NUDGE_KIND_UNSPECIFIED) continue;
    bool found = false;
    for (const PushTtl& t : PushTtls()) found |= t.kind == k;
    EXPECT_TRUE(found) << v1::NudgeKind_Name(static_cast<v1::NudgeKind>(k)) << " has no TTL";
  }
  absl::Duration shortest = absl::InfiniteDuration();
  for (const PushTtl& t : PushTtls()) {
    EXPECT_GT(t.ttl, absl::ZeroDuration());
    shortest = std::min(shortest, t.ttl);
  }
  EXPECT_EQ(PushTtlFor(v1::NUDGE_KIND_UNSPECIFIED), shortest);
}

TEST(FeedEntryTest, OneValidJobPerDeviceWithTheNudgesFields) {
  auto e = ParseFeedEntry(EntryFields(Hydration()));
  ASSERT_TRUE(e.ok());
  std::vector<v1::Device> devices(3);
  devices[0].set_device_id("d-apns");
  devices[0].mutable_apns()->set_device_token(std::string(64, 'a'));
  devices[1].set_device_id("d-none");  // no target: skipped
  devices[2].set_device_id("d-fcm");
  devices[2].mutable_fcm()->set_registration_token("tok");
  devices[2].set_locale("es");
  const absl::Time quiet = absl::FromUnixSeconds(1781082000) + absl::Hours(12);
  std::vector<push::PushJob> jobs = JobsFor(*e, devices, quiet);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].device_id, "d-apns");
  EXPECT_TRUE(std::holds_alternative<push::ApnsTarget>(jobs[0].target));
  EXPECT_EQ(jobs[1].device_id, "d-fcm");
  for (const push::PushJob& j : jobs) {
    EXPECT_TRUE(push::ValidateMessage(j.message).ok()) << push::ValidateMessage(j.message);
    EXPECT_EQ(j.message.nudge_id, "n-1");
    EXPECT_EQ(j.message.kind, "NUDGE_KIND_HYDRATION");
    EXPECT_EQ(j.message.title, "Time for water");
    EXPECT_EQ(j.message.locale, "en");  // the texts' language
    EXPECT_EQ(j.message.expire_time, e->due_time + PushTtlFor(v1::NUDGE_KIND_HYDRATION));
    EXPECT_EQ(j.message.quiet_hours_start, quiet);
    bool quiet_hours = false;
    EXPECT_FALSE(push::PastUsefulness(j.message, e->due_time + absl::Minutes(5), &quiet_hours));
    EXPECT_TRUE(push::PastUsefulness(j.message, e->due_time + absl::Hours(2), &quiet_hours));
    EXPECT_FALSE(quiet_hours);  // the TTL passed first
  }
}

// A device in another locale than the nudge's gets the texts in its own locale, with her water
// target; one in the nudge's locale (or none) gets the nudge's texts as published.
TEST(FeedEntryTest, TextsInEachDevicesOwnLocale) {
  auto e = ParseFeedEntry(EntryFields(Hydration()));
  ASSERT_TRUE(e.ok());
  std::vector<v1::Device> devices(3);
  for (int i = 0; i < 3; ++i) {
    devices[i].set_device_id(absl::StrCat("d", i));
    devices[i].mutable_fcm()->set_registration_token(absl::StrCat("tok", i));
  }
  devices[0].set_locale("es");
  devices[1].set_locale("en");
  NudgeTextProvider provider(nullptr);  // no content service: the built-in texts
  std::vector<push::PushJob> jobs =
      JobsFor(*e, devices, absl::InfiniteFuture(), DeviceTexts{&provider, 1800});
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].message.locale, "es");
  EXPECT_EQ(jobs[0].message.title, "Hora de un vaso de agua");
  EXPECT_TRUE(absl::StartsWith(jobs[0].message.body, "Un vaso ahora")) << jobs[0].message.body;
  EXPECT_FALSE(absl::StrContains(jobs[0].message.body, "{daily_target}"));
  EXPECT_TRUE(push::ValidateMessage(jobs[0].message).ok());
  for (int i : {1, 2}) {
    EXPECT_EQ(jobs[i].message.locale, "en");
    EXPECT_EQ(jobs[i].message.title, "Time for water");
    EXPECT_EQ(jobs[i].message.body, "A glass now helps with cramps.");
  }
  // Her own target is in the Spanish text: another target, another body.
  std::vector<push::PushJob> other =
      JobsFor(*e, devices, absl::InfiniteFuture(), DeviceTexts{&provider, 2500});
  EXPECT_NE(other[0].message.body, jobs[0].message.body);
  EXPECT_EQ(other[0].message.title, jobs[0].message.title);
}

}  // namespace
}  // namespace legwise::reminder
