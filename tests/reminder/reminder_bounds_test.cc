// Issue 14 from outside: a real legwise-reminder on a real redis-server. Acknowledgements only for
// her own schedule around now, at most 16 pending snoozes, a daily water cap, every edited page
// token refused, a reused request_id with another body refused (AIP-155), and her Redis state
// bounded however many calls she makes.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "services/common/redis_client.h"
#include "services/common/validation.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/store/redis_store.h"
#include "services/reminder/store/reminder_store.h"
#include "tests/reminder/test_plans.h"
#include "tests/support/process.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;
using ::legwise::testing::RedisServer;
using ::legwise::testing::ServiceProcess;

class BoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start().ok());
    svc_ = std::make_unique<ServiceProcess>(
        "legwise-reminder", std::vector<std::string>{"--redis_addr=" + redis_.address(),
                                                     "--content_addr=", "--dispatcher=false"});
    ASSERT_TRUE(svc_->Start().ok());
    ASSERT_TRUE(testing::WaitForHealth(svc_->channel().get(), "", true, absl::Seconds(20)).ok());
    stub_ = v1::ReminderService::NewStub(svc_->channel());
    RedisOptions o;
    o.address = redis_.address();
    redis_client_ = std::make_unique<RedisClient>(o);
  }

  template <typename Req, typename Resp, typename Method>
  grpc::Status Call(Method m, const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    return ((*stub_).*m)(&ctx, req, resp);
  }

  grpc::Status Create(const v1::ReminderPlan& plan, const std::string& request_id) {
    v1::CreateReminderPlanRequest req;
    *req.mutable_plan() = plan;
    req.set_request_id(request_id);
    v1::CreateReminderPlanResponse resp;
    return Call(&v1::ReminderService::Stub::CreateReminderPlan, req, &resp);
  }

  std::vector<v1::Nudge> ListNow(const std::string& user) {
    v1::ListUpcomingNudgesRequest req;
    req.set_user_id(user);
    req.mutable_start_time()->set_seconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(2)));
    req.mutable_end_time()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(8)));
    req.set_page_size(200);
    v1::ListUpcomingNudgesResponse resp;
    EXPECT_TRUE(Call(&v1::ReminderService::Stub::ListUpcomingNudges, req, &resp).ok());
    return {resp.nudges().begin(), resp.nudges().end()};
  }

  int64_t Redis(std::vector<std::string> cmd) {
    absl::StatusOr<RedisReply> r = redis_client_->Command(cmd);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->integer : -1;
  }

  RedisServer redis_;
  std::unique_ptr<ServiceProcess> svc_;
  std::unique_ptr<v1::ReminderService::Stub> stub_;
  std::unique_ptr<RedisClient> redis_client_;
};

TEST_F(BoundsTest, AcknowledgementsOnlyForHerScheduleAndHerStateStaysBounded) {
  ASSERT_TRUE(Create(AlwaysAwakePlan("ack-user"), "").ok());
  const std::vector<v1::Nudge> nudges = ListNow("ack-user");
  ASSERT_GT(nudges.size(), 3u);
  v1::AcknowledgeNudgeRequest req;
  req.set_user_id("ack-user");
  v1::AcknowledgeNudgeResponse resp;
  // The same valid acknowledgements many times over: her ack set holds each once.
  for (int round = 0; round < 3; ++round) {
    for (const v1::Nudge& n : nudges) {
      req.set_nudge_id(n.nudge_id());
      grpc::Status s = Call(&v1::ReminderService::Stub::AcknowledgeNudge, req, &resp);
      ASSERT_TRUE(s.ok()) << n.nudge_id() << " " << s.error_code() << " " << s.error_message();
    }
  }
  // Her acknowledgements: the first score lane of her state.
  const std::vector<std::string> acks = {"ZCOUNT",
                                         RedisReminderStore::StateKey(UserKey("ack-user")), "0",
                                         absl::StrCat("(", RedisReminderStore::kStateLane)};
  EXPECT_EQ(Redis(acks), static_cast<int64_t>(nudges.size()));
  // Well-formed ids of her own for dates far away: refused, nothing stored.
  for (int y = 2000; y < 2100; y += 7) {
    req.set_nudge_id(MakeNudgeId("ack-user", NudgeKind::kHydration, absl::CivilDay(y, 3, 1), 2));
    grpc::Status s = Call(&v1::ReminderService::Stub::AcknowledgeNudge, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << y;
    EXPECT_EQ(GetErrorReason(FromGrpcStatus(s)), "ACK_WINDOW");
  }
  // A slot today that her plan does not have; a kind she did not choose; another user's id.
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  for (const std::string& id : {MakeNudgeId("ack-user", NudgeKind::kHydration, today, 47),
                                MakeNudgeId("ack-user", NudgeKind::kBedtimeStretch, today, 0),
                                MakeNudgeId("someone-else", NudgeKind::kHydration, today, 1)}) {
    req.set_nudge_id(id);
    EXPECT_EQ(Call(&v1::ReminderService::Stub::AcknowledgeNudge, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(Redis(acks), static_cast<int64_t>(nudges.size()));
}

TEST_F(BoundsTest, PendingSnoozesAndDailyWaterAreCapped) {
  ASSERT_TRUE(Create(AlwaysAwakePlan("cap-user"), "").ok());
  const std::string id = ListNow("cap-user").front().nudge_id();
  v1::SnoozeNudgeRequest sn;
  sn.set_user_id("cap-user");
  sn.set_nudge_id(id);
  v1::SnoozeNudgeResponse snr;
  grpc::Status last;
  int accepted = 0;
  for (int m = 1; m <= 40; ++m) {
    sn.set_minutes(m);
    last = Call(&v1::ReminderService::Stub::SnoozeNudge, sn, &snr);
    if (last.ok()) ++accepted;
  }
  EXPECT_EQ(accepted, 16);
  EXPECT_EQ(last.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(last)), "SNOOZE_LIMIT");
  const int64_t lane = RedisReminderStore::kStateLane;  // snoozes: the second score lane
  EXPECT_EQ(Redis({"ZCOUNT", RedisReminderStore::StateKey(UserKey("cap-user")), absl::StrCat(lane),
                   absl::StrCat("(", 2 * lane)}),
            16);

  v1::LogWaterIntakeRequest w;
  w.set_user_id("cap-user");
  w.set_amount_ml(2000);
  v1::LogWaterIntakeResponse wr;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Call(&v1::ReminderService::Stub::LogWaterIntake, w, &wr).ok()) << i;
  }
  EXPECT_EQ(wr.total_today_ml(), 10000);
  for (int i = 0; i < 3; ++i) {
    grpc::Status s = Call(&v1::ReminderService::Stub::LogWaterIntake, w, &wr);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(GetErrorReason(FromGrpcStatus(s)), "WATER_DAILY_CAP");
  }
}

TEST_F(BoundsTest, EditedPageTokensAreRefused) {
  ASSERT_TRUE(Create(AlwaysAwakePlan("page-user"), "").ok());
  ASSERT_TRUE(Create(AlwaysAwakePlan("other-user"), "").ok());
  v1::ListUpcomingNudgesRequest req;
  req.set_user_id("page-user");
  req.set_page_size(1);
  v1::ListUpcomingNudgesResponse resp;
  ASSERT_TRUE(Call(&v1::ReminderService::Stub::ListUpcomingNudges, req, &resp).ok());
  const std::string token = resp.next_page_token();
  ASSERT_FALSE(token.empty());
  int refused = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    std::string t = token;
    t[i] = t[i] == 'x' ? 'y' : 'x';
    req.set_page_token(t);
    grpc::Status s = Call(&v1::ReminderService::Stub::ListUpcomingNudges, req, &resp);
    refused += s.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
  }
  EXPECT_EQ(refused, static_cast<int>(token.size()));
  // Her token is not another user's.
  req.set_user_id("other-user");
  req.set_page_token(token);
  EXPECT_EQ(Call(&v1::ReminderService::Stub::ListUpcomingNudges, req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  req.set_user_id("page-user");
  EXPECT_TRUE(Call(&v1::ReminderService::Stub::ListUpcomingNudges, req, &resp).ok());
}

TEST_F(BoundsTest, ReusedRequestIdWithAnotherBodyIsAnError) {
  v1::ReminderPlan plan = AlwaysAwakePlan("idem-user");
  ASSERT_TRUE(Create(plan, "req-1").ok());
  EXPECT_TRUE(Create(plan, "req-1").ok());  // the same request again
  plan.set_daily_water_target_ml(1500);
  grpc::Status s = Create(plan, "req-1");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(s)), "REQUEST_ID_REUSED");
  EXPECT_EQ(Create(plan, "req-2").error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

}  // namespace
}  // namespace legwise::reminder
