// legwise-reminder as real processes on a real redis-server: a plan survives restarts of the
// service and of Redis; the service is NOT_SERVING without Redis; StreamNudges receives a due nudge
// published by another replica; three dispatcher replicas over thousands of due occurrences, one
// killed half-way: every occurrence reaches the outbox exactly once; a burst beyond the handler
// executor is refused (RESOURCE_EXHAUSTED), not queued.
#include <sys/wait.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "services/common/redis_client.h"
#include "services/common/validation.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/store/redis_store.h"
#include "tests/reminder/test_plans.h"
#include "tests/support/process.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;
using ::legwise::testing::RedisServer;
using ::legwise::testing::ServiceProcess;

constexpr absl::Duration kWait = absl::Seconds(20);
// Tests that place occurrences with RedisReminderStore::Schedule write the previous
// (per-occurrence) layout, as an older replica would; a dispatcher that found it drained looks at
// it again only every --legacy_check_interval (30 s by default), so these replicas look every
// second.
constexpr char kLegacyCheck[] = "--legacy_check_interval=1s";

std::unique_ptr<v1::ReminderService::Stub> Stub(ServiceProcess& svc) {
  return v1::ReminderService::NewStub(svc.channel());
}

void Deadline(grpc::ClientContext* ctx, absl::Duration d = absl::Seconds(5)) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

// A due occurrence written straight into the due index, as the planner would have scheduled it.
ScheduledNudge DueNudge(const std::string& user, const std::string& id, absl::Time due) {
  v1::Nudge n;
  n.set_nudge_id(id);
  n.set_user_id(user);
  n.set_kind(v1::NUDGE_KIND_HYDRATION);
  n.mutable_due_time()->set_seconds(absl::ToUnixSeconds(due));
  n.set_local_time(FormatLocalTime(due, absl::UTCTimeZone()));
  n.set_locale("es");
  return {id, due, n.SerializeAsString()};
}

std::shared_ptr<RedisClient> Client(const RedisServer& redis) {
  RedisOptions o;
  o.address = redis.address();
  o.command_timeout = absl::Seconds(5);
  return std::make_shared<RedisClient>(o);
}

TEST(ReminderIntegration, PlanSurvivesRestartsAndServiceFollowsRedis) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  const std::vector<std::string> args = {"--redis_addr=" + redis.address(),
                                         "--content_addr=127.0.0.1:1"};
  v1::ReminderPlan created;
  {
    ServiceProcess svc("legwise-reminder", args);
    ASSERT_TRUE(svc.Start().ok());
    ASSERT_TRUE(testing::WaitForHealth(svc.channel().get(), "", true, kWait).ok());
    auto stub = Stub(svc);

    // Invalid plans are INVALID_ARGUMENT with field paths.
    v1::CreateReminderPlanRequest bad;
    *bad.mutable_plan() = AlwaysAwakePlan("restart-user");
    bad.mutable_plan()->set_time_zone("Mars/Base");
    v1::CreateReminderPlanResponse bad_resp;
    grpc::ClientContext c0;
    Deadline(&c0);
    grpc::Status s0 = stub->CreateReminderPlan(&c0, bad, &bad_resp);
    ASSERT_EQ(s0.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    auto violations = GetFieldViolations(FromGrpcStatus(s0));
    ASSERT_EQ(violations.size(), 1u);
    EXPECT_EQ(violations[0].field, "plan.time_zone");

    v1::CreateReminderPlanRequest req;
    *req.mutable_plan() = AlwaysAwakePlan("restart-user");
    req.set_request_id("req-1");
    v1::CreateReminderPlanResponse resp;
    grpc::ClientContext c1;
    Deadline(&c1);
    ASSERT_TRUE(stub->CreateReminderPlan(&c1, req, &resp).ok());
    created = resp.plan();
    EXPECT_FALSE(created.etag().empty());

    // The same request again is answered with the same plan; another request id is ALREADY_EXISTS.
    grpc::ClientContext c2;
    Deadline(&c2);
    v1::CreateReminderPlanResponse again;
    ASSERT_TRUE(stub->CreateReminderPlan(&c2, req, &again).ok());
    EXPECT_EQ(again.plan().etag(), created.etag());
    req.set_request_id("req-2");
    grpc::ClientContext c3;
    Deadline(&c3);
    EXPECT_EQ(stub->CreateReminderPlan(&c3, req, &again).error_code(),
              grpc::StatusCode::ALREADY_EXISTS);
    ASSERT_TRUE(svc.Terminate().ok());
  }
  // A new process (a restart) reads the same plan.
  ServiceProcess svc("legwise-reminder", args);
  ASSERT_TRUE(svc.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(svc.channel().get(), "", true, kWait).ok());
  auto stub = Stub(svc);
  auto get = [&](v1::GetReminderPlanResponse* out) {
    v1::GetReminderPlanRequest g;
    g.set_user_id("restart-user");
    grpc::ClientContext c;
    Deadline(&c);
    return stub->GetReminderPlan(&c, g, out);
  };
  v1::GetReminderPlanResponse got;
  ASSERT_TRUE(get(&got).ok());
  EXPECT_EQ(got.plan().SerializeAsString(), created.SerializeAsString());

  // Redis goes away: NOT_SERVING, and calls fail UNAVAILABLE; it comes back (AOF): SERVING, same
  // plan.
  redis.Stop();
  EXPECT_TRUE(testing::WaitForHealth(svc.channel().get(), "", false, kWait).ok());
  v1::GetReminderPlanResponse during;
  EXPECT_EQ(get(&during).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(redis.Start().ok());
  EXPECT_TRUE(testing::WaitForHealth(svc.channel().get(), "", true, kWait).ok());
  v1::GetReminderPlanResponse after;
  ASSERT_TRUE(get(&after).ok());
  EXPECT_EQ(after.plan().SerializeAsString(), created.SerializeAsString());

  // The planned nudges are listed, in time order, with texts.
  v1::ListUpcomingNudgesRequest lr;
  lr.set_user_id("restart-user");
  v1::ListUpcomingNudgesResponse lresp;
  grpc::ClientContext lc;
  Deadline(&lc);
  ASSERT_TRUE(stub->ListUpcomingNudges(&lc, lr, &lresp).ok());
  ASSERT_GT(lresp.nudges_size(), 0);
  for (int i = 0; i < lresp.nudges_size(); ++i) {
    EXPECT_FALSE(lresp.nudges(i).title().empty());
    if (i > 0) {
      EXPECT_LE(lresp.nudges(i - 1).due_time().seconds(), lresp.nudges(i).due_time().seconds());
    }
  }
}

TEST(ReminderIntegration, StreamNudgesReceivesDueNudgeFromAnyReplica) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  // Replica A only serves the API (no dispatcher); replica B dispatches.
  ServiceProcess a("legwise-reminder", {"--redis_addr=" + redis.address(),
                                        "--content_addr=127.0.0.1:1", "--dispatcher=false"});
  ServiceProcess b("legwise-reminder",
                   {"--redis_addr=" + redis.address(), "--content_addr=127.0.0.1:1", kLegacyCheck});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(a.channel().get(), "", true, kWait).ok());

  auto stub = Stub(a);
  {
    v1::CreateReminderPlanRequest req;
    *req.mutable_plan() = AlwaysAwakePlan("stream-user");
    req.mutable_plan()->set_locale("es");
    v1::CreateReminderPlanResponse resp;
    grpc::ClientContext c;
    Deadline(&c);
    ASSERT_TRUE(stub->CreateReminderPlan(&c, req, &resp).ok());
  }
  grpc::ClientContext sctx;
  Deadline(&sctx, absl::Seconds(150));
  v1::StreamNudgesRequest sreq;
  sreq.set_user_id("stream-user");
  auto reader = stub->StreamNudges(&sctx, sreq);
  absl::SleepFor(absl::Milliseconds(500));  // let the subscription reach the hub

  // An occurrence due in three seconds (the subscription is surely registered by then), scheduled
  // the way the planner does.
  RedisReminderStore store(Client(redis));
  const absl::Time due = absl::Now() + absl::Seconds(3);
  const std::string id =
      MakeNudgeId("stream-user", NudgeKind::kHydration,
                  absl::CivilDay(absl::ToCivilDay(due, absl::UTCTimeZone())), 999);
  ASSERT_TRUE(store
                  .Schedule("stream-user", {DueNudge("stream-user", id, due)}, absl::Now(), false,
                            absl::InfinitePast())
                  .ok());
  v1::Nudge got;
  ASSERT_TRUE(reader->Read(&got));
  EXPECT_EQ(got.nudge_id(), id);
  EXPECT_EQ(got.user_id(), "stream-user");
  EXPECT_EQ(got.kind(), v1::NUDGE_KIND_HYDRATION);
  EXPECT_EQ(got.locale(), "es");  // content unreachable: built-in Spanish text
  EXPECT_FALSE(got.title().empty());
  EXPECT_GE(absl::Now(), due);

  // A snooze through the public API arrives on the stream too (one minute later).
  v1::SnoozeNudgeRequest sn;
  sn.set_user_id("stream-user");
  sn.set_nudge_id(id);
  sn.set_minutes(1);
  v1::SnoozeNudgeResponse snr;
  grpc::ClientContext snc;
  Deadline(&snc);
  ASSERT_TRUE(stub->SnoozeNudge(&snc, sn, &snr).ok());
  // Her always-awake plan's own occurrences may come due in that minute too: skip them.
  v1::Nudge snoozed;
  do {
    ASSERT_TRUE(reader->Read(&snoozed));
  } while (snoozed.nudge_id() != snr.nudge().nudge_id() &&
           !absl::StartsWith(snoozed.nudge_id(), "snz-"));
  EXPECT_EQ(snoozed.nudge_id(), snr.nudge().nudge_id());
  sctx.TryCancel();
}

// StreamNudges resumes: a client that reconnects with the resume_token of the last nudge it got
// receives what was published meanwhile, then live nudges, each once, also after the replica it
// talks to restarts; a made-up or another user's token is INVALID_ARGUMENT.
TEST(ReminderIntegration, StreamResumesWithoutGapsOrRepeats) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  const std::vector<std::string> api_args = {"--redis_addr=" + redis.address(),
                                             "--content_addr=127.0.0.1:1", "--dispatcher=false"};
  auto a = std::make_unique<ServiceProcess>("legwise-reminder", api_args);
  ServiceProcess b("legwise-reminder",
                   {"--redis_addr=" + redis.address(), "--content_addr=127.0.0.1:1", kLegacyCheck});
  ASSERT_TRUE(a->Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(a->channel().get(), "", true, kWait).ok());
  {
    auto stub = Stub(*a);
    v1::CreateReminderPlanRequest req;
    *req.mutable_plan() = AlwaysAwakePlan("resume-user");
    v1::CreateReminderPlanResponse resp;
    grpc::ClientContext c;
    Deadline(&c);
    ASSERT_TRUE(stub->CreateReminderPlan(&c, req, &resp).ok());
  }
  RedisReminderStore store(Client(redis));
  int slot = 900;
  // Schedules one occurrence due in `in` and returns its id.
  auto schedule = [&](absl::Duration in) {
    const absl::Time due = absl::Now() + in;
    const std::string id =
        MakeNudgeId("resume-user", NudgeKind::kHydration,
                    absl::CivilDay(absl::ToCivilDay(due, absl::UTCTimeZone())), slot++);
    EXPECT_TRUE(store
                    .Schedule("resume-user", {DueNudge("resume-user", id, due)}, absl::Now(), false,
                              absl::InfinitePast())
                    .ok());
    return id;
  };
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::Nudge>> reader;
  };
  auto open = [&](ServiceProcess& svc, const std::string& token) {
    auto st = std::make_unique<Stream>();
    Deadline(&st->ctx, absl::Seconds(60));
    v1::StreamNudgesRequest sreq;
    sreq.set_user_id("resume-user");
    sreq.set_resume_token(token);
    st->reader = Stub(svc)->StreamNudges(&st->ctx, sreq);
    return st;
  };

  auto s1 = open(*a, "");
  absl::SleepFor(absl::Milliseconds(500));
  const std::string id1 = schedule(absl::Seconds(2));
  v1::Nudge n;
  ASSERT_TRUE(s1->reader->Read(&n));
  EXPECT_EQ(n.nudge_id(), id1);
  const std::string token1 = n.resume_token();
  ASSERT_FALSE(token1.empty());
  s1->ctx.TryCancel();
  s1->reader->Finish();

  // Published while she was away.
  const std::string id2 = schedule(absl::Seconds(1));
  const std::string id3 = schedule(absl::Seconds(2));
  absl::SleepFor(absl::Seconds(4));

  // Bad tokens first.
  for (const std::string& bad : {std::string("garbage"), token1.substr(1), token1 + "A"}) {
    auto s = open(*a, bad);
    EXPECT_FALSE(s->reader->Read(&n));
    EXPECT_EQ(s->reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }

  auto s2 = open(*a, token1);
  std::vector<std::string> got;
  ASSERT_TRUE(s2->reader->Read(&n));
  got.push_back(n.nudge_id());
  ASSERT_TRUE(s2->reader->Read(&n));
  got.push_back(n.nudge_id());
  EXPECT_EQ(got, (std::vector<std::string>{id2, id3}));
  const std::string id4 = schedule(absl::Seconds(2));
  ASSERT_TRUE(s2->reader->Read(&n));
  EXPECT_EQ(n.nudge_id(), id4);  // live after the replay, no repeat of id1..id3
  const std::string token4 = n.resume_token();
  s2->ctx.TryCancel();
  s2->reader->Finish();

  // The replica restarts; a nudge is published meanwhile; the client resumes on the new process.
  ASSERT_TRUE(a->Terminate().ok());
  const std::string id5 = schedule(absl::Seconds(1));
  absl::SleepFor(absl::Seconds(3));
  a = std::make_unique<ServiceProcess>("legwise-reminder", api_args);
  ASSERT_TRUE(a->Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(a->channel().get(), "", true, kWait).ok());
  auto s3 = open(*a, token4);
  ASSERT_TRUE(s3->reader->Read(&n));
  EXPECT_EQ(n.nudge_id(), id5);
  const std::string id6 = schedule(absl::Seconds(2));
  ASSERT_TRUE(s3->reader->Read(&n));
  EXPECT_EQ(n.nudge_id(), id6);
  s3->ctx.TryCancel();
  s3->reader->Finish();
}

// `legwisectl stream` follows her nudges through a restart of the replica it talks to (it
// reconnects with the last resume_token: the nudge published while the replica was down is shown,
// none twice), and Ctrl-C ends it with exit status 0 and nothing on stderr or stdout.
TEST(ReminderIntegration, LegwisectlStreamReconnectsAndCtrlCExitsQuietly) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  ServiceProcess a("legwise-reminder", {"--redis_addr=" + redis.address(),
                                        "--content_addr=127.0.0.1:1", "--dispatcher=false"});
  ServiceProcess b("legwise-reminder",
                   {"--redis_addr=" + redis.address(), "--content_addr=127.0.0.1:1", kLegacyCheck});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(a.channel().get(), "", true, kWait).ok());
  {
    auto stub = Stub(a);
    v1::CreateReminderPlanRequest req;
    *req.mutable_plan() = AlwaysAwakePlan("ctl-user");
    v1::CreateReminderPlanResponse resp;
    grpc::ClientContext c;
    Deadline(&c);
    ASSERT_TRUE(stub->CreateReminderPlan(&c, req, &resp).ok());
  }
  RedisReminderStore store(Client(redis));
  int slot = 950;
  auto schedule = [&](absl::Duration in) {
    const absl::Time due = absl::Now() + in;
    const std::string id =
        MakeNudgeId("ctl-user", NudgeKind::kHydration,
                    absl::CivilDay(absl::ToCivilDay(due, absl::UTCTimeZone())), slot++);
    EXPECT_TRUE(store
                    .Schedule("ctl-user", {DueNudge("ctl-user", id, due)}, absl::Now(), false,
                              absl::InfinitePast())
                    .ok());
    return id;
  };
  const std::string out_path = absl::StrCat(::testing::TempDir(), "/legwisectl-stream-",
                                            absl::ToUnixNanos(absl::Now()), ".out");
  testing::Subprocess ctl;
  ASSERT_TRUE(ctl.Start({absl::StrCat(testing::BinDir(), "/legwisectl"),
                         "--reminder_addr=" + a.address(), "stream", "--user", "ctl-user"},
                        {}, out_path)
                  .ok());
  auto output = [&] {
    std::ifstream in(out_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  auto count = [](const std::string& text, const std::string& word) {
    int n = 0;
    for (size_t pos = text.find(word); pos != std::string::npos; pos = text.find(word, pos + 1)) {
      ++n;
    }
    return n;
  };
  auto wait_for = [&](const std::string& id) {
    for (int i = 0; i < 200 && count(output(), id) == 0; ++i)
      absl::SleepFor(absl::Milliseconds(100));
    return count(output(), id);
  };
  absl::SleepFor(absl::Seconds(1));
  const std::string id1 = schedule(absl::Seconds(2));
  ASSERT_EQ(wait_for(id1), 1) << output();

  ASSERT_TRUE(a.Terminate().ok());
  const std::string id2 = schedule(absl::Seconds(1));
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(a.Start().ok());
  EXPECT_EQ(wait_for(id2), 1) << output();
  const std::string id3 = schedule(absl::Seconds(2));
  EXPECT_EQ(wait_for(id3), 1) << output();
  EXPECT_EQ(count(output(), id1), 1);
  EXPECT_EQ(count(output(), id2), 1);

  const std::string before = output();
  ctl.Signal(SIGINT);
  absl::StatusOr<int> status = ctl.Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_EQ(output(), before);  // nothing printed on the way out
}

TEST(ReminderIntegration, ThreeReplicasOneKilledEveryOccurrenceExactlyOnce) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  const std::vector<std::string> args = {"--redis_addr=" + redis.address(),
                                         "--content_addr=127.0.0.1:1", "--lease=2s",
                                         "--dispatch_batch=50", kLegacyCheck};
  std::vector<std::unique_ptr<ServiceProcess>> replicas;
  for (int i = 0; i < 3; ++i) {
    replicas.push_back(std::make_unique<ServiceProcess>("legwise-reminder", args));
    ASSERT_TRUE(replicas.back()->Start().ok());
  }
  auto client = Client(redis);
  RedisReminderStore store(client);

  // 6000 occurrences of 1500 users, due over the next 6 seconds.
  constexpr int kUsers = 1500;
  constexpr int kPerUser = 4;
  const absl::Time base = absl::Now() + absl::Seconds(1);
  std::set<std::string> expected;
  for (int u = 0; u < kUsers; ++u) {
    const std::string user = absl::StrCat("replica-user-", u);
    std::vector<ScheduledNudge> nudges;
    for (int k = 0; k < kPerUser; ++k) {
      const absl::Time due = base + absl::Milliseconds((u * kPerUser + k) % 6000);
      const std::string id =
          MakeNudgeId(user, NudgeKind::kHydration, absl::CivilDay(2026, 1, 1), k);
      nudges.push_back(DueNudge(user, id, due));
      expected.insert(id);
    }
    ASSERT_TRUE(store.Schedule(user, nudges, absl::Now(), false, absl::InfinitePast()).ok());
  }
  ASSERT_EQ(expected.size(), static_cast<size_t>(kUsers * kPerUser));

  auto outbox_len = [&] {
    int64_t total = 0;
    for (int b = 0; b < store.num_buckets(); ++b) {
      auto r = client->Command({"XLEN", RedisReminderStore::OutboxKey(b)});
      if (r.ok()) total += r->integer;
    }
    return total;
  };
  // Half-way, replica 0 dies without warning.
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (outbox_len() < static_cast<int64_t>(expected.size() / 2) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  replicas[0]->Kill();
  // A replica that dies between claim and publish, for certain: claim a batch in every bucket under
  // a lease nobody will ever publish; the reaper must hand these to the live replicas.
  int orphaned = 0;
  for (const absl::Time stop = absl::Now() + absl::Seconds(1);
       absl::Now() < stop && orphaned < 200;) {
    for (int b = 0; b < store.num_buckets(); ++b) {
      auto claim = store.Claim(b, 20, "dead-replica:1", absl::Seconds(2), absl::Minutes(30));
      ASSERT_TRUE(claim.ok());
      orphaned += static_cast<int>(claim->claimed.size());
    }
  }
  ASSERT_GT(orphaned, 0);
  const absl::Time killed_at = absl::Now();
  // The others finish, including whatever the dead one had claimed (after its leases expire).
  while (absl::Now() < give_up) {
    auto backlog = store.Backlog();
    ASSERT_TRUE(backlog.ok());
    if (backlog->first == 0 && backlog->second == 0) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  absl::SleepFor(absl::Milliseconds(500));
  std::cerr << "orphaned claims: " << orphaned << ", drained "
            << absl::FormatDuration(absl::Now() - killed_at) << " after the kill\n";

  std::map<std::string, int> seen;
  for (int b = 0; b < store.num_buckets(); ++b) {
    auto r = client->Command({"XRANGE", RedisReminderStore::OutboxKey(b), "-", "+"});
    ASSERT_TRUE(r.ok());
    for (const RedisReply& entry : r->elements) {
      const auto& f = entry.elements[1].elements;
      for (size_t i = 0; i + 1 < f.size(); i += 2) {
        if (f[i].str == "nudge_id") seen[f[i + 1].str]++;
      }
    }
  }
  int duplicates = 0;
  int missing = 0;
  for (const auto& [id, n] : seen) duplicates += n > 1;
  for (const std::string& id : expected) missing += seen.count(id) == 0;
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(seen.size(), expected.size());
  // The push gateway's consumer group exists on the outbox streams.
  auto groups = client->Command({"XINFO", "GROUPS", RedisReminderStore::OutboxKey(0)});
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->elements.size(), 1u);
}

TEST(ReminderIntegration, MemoryStoreServesWithoutRedis) {
  // Development mode: no Redis anywhere, still SERVING, plans work (and are lost on restart).
  ServiceProcess svc("legwise-reminder",
                     {"--memory_store", "--redis_addr=127.0.0.1:1", "--content_addr=127.0.0.1:1"});
  ASSERT_TRUE(svc.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(svc.channel().get(), "", true, kWait).ok());
  auto stub = Stub(svc);
  v1::CreateReminderPlanRequest req;
  *req.mutable_plan() = AlwaysAwakePlan("memory-user");
  v1::CreateReminderPlanResponse resp;
  grpc::ClientContext c;
  Deadline(&c);
  ASSERT_TRUE(stub->CreateReminderPlan(&c, req, &resp).ok());
  v1::GetReminderPlanRequest g;
  g.set_user_id("memory-user");
  v1::GetReminderPlanResponse got;
  grpc::ClientContext c2;
  Deadline(&c2);
  ASSERT_TRUE(stub->GetReminderPlan(&c2, g, &got).ok());
  EXPECT_EQ(got.plan().etag(), resp.plan().etag());
}

// One CreateReminderPlan call of a burst.
struct BurstCall {
  grpc::ClientContext ctx;
  v1::CreateReminderPlanRequest req;
  v1::CreateReminderPlanResponse resp;
  grpc::Status status;
};

// Sends `n` CreateReminderPlan calls at once (users "<prefix>0".."<prefix><n-1>", each with
// `deadline`) and waits up to 60 s for every answer. Every callback has run when it returns (the
// calls are cancelled first if they are late); false when they were late.
bool SendBurst(v1::ReminderService::Stub& stub, int n, const std::string& prefix,
               absl::Duration deadline, std::vector<std::unique_ptr<BurstCall>>* calls) {
  absl::Mutex mu;
  int done = 0;
  for (int i = 0; i < n; ++i) {
    auto call = std::make_unique<BurstCall>();
    Deadline(&call->ctx, deadline);
    *call->req.mutable_plan() = AlwaysAwakePlan(absl::StrCat(prefix, i));
    BurstCall* c = call.get();
    calls->push_back(std::move(call));
    stub.async()->CreateReminderPlan(&c->ctx, &c->req, &c->resp, [c, &mu, &done](grpc::Status s) {
      absl::MutexLock lock(&mu);
      c->status = std::move(s);
      ++done;
    });
  }
  absl::MutexLock lock(&mu);
  const auto all_done = [&done, n] { return done == n; };
  if (mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(60))) return true;
  for (const auto& c : *calls) c->ctx.TryCancel();
  mu.Await(absl::Condition(&all_done));  // every callback has run before `mu` goes away
  return false;
}

// The handlers' executor is bounded: a burst beyond one thread and a one-call queue is refused
// with RESOURCE_EXHAUSTED (reason OVERLOADED) at once, never queued without limit, and every call
// it accepted is answered.
TEST(ReminderIntegration, OverloadIsRefusedNotQueued) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  ServiceProcess svc("legwise-reminder",
                     {"--redis_addr=" + redis.address(), "--content_addr=127.0.0.1:1",
                      "--handler_threads=1", "--handler_queue=1", "--dispatcher=false"});
  ASSERT_TRUE(svc.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(svc.channel().get(), "", true, kWait).ok());
  auto stub = Stub(svc);
  constexpr int kCalls = 200;
  std::vector<std::unique_ptr<BurstCall>> calls;
  ASSERT_TRUE(SendBurst(*stub, kCalls, "burst-", absl::Seconds(30), &calls))
      << "calls still unanswered after 60 s";
  int ok = 0, refused = 0;
  for (const auto& c : calls) {
    if (c->status.ok()) {
      ++ok;
      EXPECT_EQ(c->resp.plan().user_id(), c->req.plan().user_id());
    } else {
      ASSERT_EQ(c->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << c->status.error_message();
      EXPECT_EQ(GetErrorReason(FromGrpcStatus(c->status)), "OVERLOADED");
      ++refused;
    }
  }
  std::cout << "burst of " << kCalls << ": " << ok << " served, " << refused << " refused\n";
  EXPECT_GT(ok, 0);
  EXPECT_GT(refused, 0);
}

// A call that waits on the executor past its deadline is dropped without doing its work: with one
// handler thread and a burst of calls with a 30 ms deadline, most plans are never written. The
// whole burst reaches the server at once (streams per connection raised above it), so what limits
// the writes is the server's queue, not the client waiting for a free stream: on a fast machine one
// thread writes about 100 plans in 30 ms, so the burst is ten times that.
TEST(ReminderIntegration, CallsThatExpireWhileQueuedDoNoWork) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  constexpr int kCalls = 1000;
  ServiceProcess svc("legwise-reminder",
                     {"--redis_addr=" + redis.address(), "--content_addr=127.0.0.1:1",
                      "--handler_threads=1", "--dispatcher=false", "--rate_limit_per_second=0",
                      absl::StrCat("--max_concurrent_streams=", kCalls + 10)});
  ASSERT_TRUE(svc.Start().ok());
  ASSERT_TRUE(testing::WaitForHealth(svc.channel().get(), "", true, kWait).ok());
  auto stub = Stub(svc);
  std::vector<std::unique_ptr<BurstCall>> calls;
  ASSERT_TRUE(SendBurst(*stub, kCalls, "late-", absl::Milliseconds(30), &calls))
      << "calls still unanswered after 60 s";
  // The queue is first in, first out: once a later call is answered, every queued one has run.
  {
    v1::CreateReminderPlanRequest req;
    *req.mutable_plan() = AlwaysAwakePlan("late-barrier");
    v1::CreateReminderPlanResponse resp;
    grpc::ClientContext ctx;
    Deadline(&ctx, absl::Seconds(60));
    ASSERT_TRUE(stub->CreateReminderPlan(&ctx, req, &resp).ok());
  }
  RedisReminderStore store(Client(redis));
  int written = 0;
  for (int i = 0; i < kCalls; ++i) written += store.GetPlan(absl::StrCat("late-", i)).ok();
  std::cout << "burst of " << kCalls << " with a 30 ms deadline: " << written << " plans written\n";
  EXPECT_LT(written, kCalls / 2);
}

}  // namespace
}  // namespace legwise::reminder
