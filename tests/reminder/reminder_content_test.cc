// legwise-reminder with a real legwise-content: nudge texts come from content's ListNudgeTexts in
// the plan's locale; when content goes away the cached (or built-in) texts keep nudges readable.
#include <iostream>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "tests/support/process.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;
namespace cv1 = ::legwise::content::v1;

TEST(ReminderWithContent, NudgeTextsComeFromContentInThePlansLocale) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  testing::ServiceProcess content("legwise-content", {"--redis_addr=" + redis.address()});
  ASSERT_TRUE(content.Start().ok());
  testing::ServiceProcess reminder("legwise-reminder", {"--redis_addr=" + redis.address(),
                                                        "--content_addr=" + content.address()});
  ASSERT_TRUE(reminder.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(reminder.channel().get(), "", true, absl::Seconds(20)).ok());

  // What content says a hydration nudge is called in Spanish.
  auto content_stub = cv1::ContentService::NewStub(content.channel());
  cv1::ListNudgeTextsRequest treq;
  treq.set_locale("es");
  cv1::ListNudgeTextsResponse tresp;
  grpc::ClientContext tctx;
  tctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  ASSERT_TRUE(content_stub->ListNudgeTexts(&tctx, treq, &tresp).ok());
  std::string want_title;
  for (const auto& t : tresp.nudge_texts()) {
    if (t.nudge_type() == "hydration") want_title = t.title();
  }
  ASSERT_FALSE(want_title.empty());

  auto stub = v1::ReminderService::NewStub(reminder.channel());
  v1::CreateReminderPlanRequest creq;
  v1::ReminderPlan* p = creq.mutable_plan();
  p->set_user_id("content-user");
  p->set_time_zone("Europe/Madrid");
  p->mutable_wake_time()->set_hours(7);
  p->mutable_sleep_time()->set_hours(22);
  p->add_kinds(v1::NUDGE_KIND_HYDRATION);
  p->set_locale("es");
  v1::CreateReminderPlanResponse cresp;
  grpc::ClientContext cctx;
  cctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  ASSERT_TRUE(stub->CreateReminderPlan(&cctx, creq, &cresp).ok());

  // Texts are fetched in the background (never blocking a call): within a few seconds the listed
  // nudges carry content's Spanish title.
  std::string got_title, got_locale;
  const absl::Time listed_from = absl::Now();
  for (const absl::Time stop = absl::Now() + absl::Seconds(15); absl::Now() < stop;) {
    v1::ListUpcomingNudgesRequest lreq;
    lreq.set_user_id("content-user");
    v1::ListUpcomingNudgesResponse lresp;
    grpc::ClientContext lctx;
    lctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    ASSERT_TRUE(stub->ListUpcomingNudges(&lctx, lreq, &lresp).ok());
    ASSERT_GT(lresp.nudges_size(), 0);
    got_title = lresp.nudges(0).title();
    got_locale = lresp.nudges(0).locale();
    if (got_title == want_title) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(got_title, want_title);
  std::cerr << "content title \"" << want_title << "\" seen after "
            << absl::FormatDuration(absl::Now() - listed_from) << "\n";
  EXPECT_EQ(got_locale, "es");
}

}  // namespace
}  // namespace legwise::reminder
