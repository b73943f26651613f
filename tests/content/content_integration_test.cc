// legwise-content as a real process, over gRPC, with and without a real redis-server: the contract
// on the wire, the cache (hit, miss, negative), catalog reload bumping the version, and Redis
// killed mid-test and brought back, with no request failing.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "services/common/redis_client.h"
#include "services/common/validation.h"
#include "tests/support/process.h"

namespace legwise::content {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace lt = ::legwise::testing;
namespace fs = std::filesystem;

constexpr char kHealthInterval[] = "--health_interval=100ms";

std::unique_ptr<v1::ContentService::Stub> Stub(lt::ServiceProcess& svc) {
  return v1::ContentService::NewStub(svc.channel());
}

template <typename Req, typename Resp>
grpc::Status Call(grpc::Status (v1::ContentService::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                   Resp*),
                  v1::ContentService::Stub* stub, const Req& req, Resp* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return (stub->*method)(&ctx, req, resp);
}

grpc::Status Get(v1::ContentService::Stub* stub, const std::string& topic,
                 const std::string& locale, v1::GetGuidanceResponse* out,
                 const std::string& etag = "") {
  v1::GetGuidanceRequest r;
  r.set_topic_id(topic);
  r.set_locale(locale);
  r.set_if_none_match(etag);
  return Call(&v1::ContentService::Stub::GetGuidance, stub, r, out);
}

grpc::Status Lookup(v1::ContentService::Stub* stub, v1::CodeSystem sys, const std::string& code,
                    v1::LookupGuidanceByCodeResponse* out, const std::string& locale = "en") {
  v1::LookupGuidanceByCodeRequest r;
  r.set_code_system(sys);
  r.set_code(code);
  r.set_locale(locale);
  return Call(&v1::ContentService::Stub::LookupGuidanceByCode, stub, r, out);
}

// Polls `pred` every 50 ms for up to `timeout`.
template <typename Pred>
bool Eventually(Pred pred, absl::Duration timeout = absl::Seconds(10)) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return pred();
}

std::string Metrics(lt::ServiceProcess& svc) {
  absl::StatusOr<std::string> m = lt::HttpGet(svc.metrics_port(), "/metrics");
  return m.ok() ? *m : "";
}

std::vector<std::string> ContentKeys(RedisClient& redis) {
  std::vector<std::string> keys;
  absl::StatusOr<RedisReply> r = redis.Command({"KEYS", "legwise:content:*"});
  if (r.ok()) {
    for (const RedisReply& e : r->elements) keys.push_back(e.str);
  }
  return keys;
}

TEST(ContentIntegrationTest, ServesWithoutRedisAndSaysDegraded) {
  lt::ServiceProcess svc(
      "legwise-content",
      {absl::StrCat("--redis_addr=127.0.0.1:", lt::FreePort()), kHealthInterval});
  ASSERT_TRUE(svc.Start().ok());
  auto stub = Stub(svc);
  for (const char* locale : {"en", "es-MX", "fr"}) {
    v1::GetGuidanceResponse resp;
    ASSERT_TRUE(Get(stub.get(), "leg-cramps", locale, &resp).ok()) << locale;
    EXPECT_EQ(resp.guidance().locale(), std::string(locale) == "es-MX" ? "es" : "en");
  }
  EXPECT_TRUE(lt::WaitForHealth(svc.channel().get(), "", true, absl::Seconds(5)).ok());
  EXPECT_TRUE(Eventually(
      [&] { return lt::CheckHealth(svc.channel().get(), "dependency/redis").value_or(0) == 2; }));
  EXPECT_TRUE(
      Eventually([&] { return absl::StrContains(Metrics(svc), "legwise_content_degraded 1"); }));
}

TEST(ContentIntegrationTest, ContractOnTheWire) {
  lt::ServiceProcess svc("legwise-content",
                         {absl::StrCat("--redis_addr=127.0.0.1:", lt::FreePort())});
  ASSERT_TRUE(svc.Start().ok());
  auto stub = Stub(svc);

  // Validation: INVALID_ARGUMENT with field violations naming the paths.
  v1::GetGuidanceRequest bad;
  bad.set_topic_id("leg-cramps");
  bad.set_locale("not a locale");
  bad.mutable_context()->set_gestational_age_weeks(50);
  v1::GetGuidanceResponse resp;
  grpc::Status s = Call(&v1::ContentService::Stub::GetGuidance, stub.get(), bad, &resp);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<std::string> fields;
  for (const auto& v : GetFieldViolations(FromGrpcStatus(s))) fields.push_back(v.field);
  EXPECT_THAT(fields, ::testing::UnorderedElementsAre("locale", "context.gestational_age_weeks"));
  EXPECT_EQ(Get(stub.get(), "no-such-topic", "en", &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Etags.
  ASSERT_TRUE(Get(stub.get(), "swelling", "es", &resp).ok());
  const std::string etag = resp.guidance().etag();
  v1::GetGuidanceResponse again;
  ASSERT_TRUE(Get(stub.get(), "swelling", "es", &again, etag).ok());
  EXPECT_TRUE(again.not_modified());
  EXPECT_FALSE(again.has_guidance());

  // Codes.
  v1::LookupGuidanceByCodeResponse lr;
  ASSERT_TRUE(Lookup(stub.get(), v1::CODE_SYSTEM_ICD10CM, "o2233", &lr).ok());
  EXPECT_EQ(lr.normalized_code(), "O22.33");
  ASSERT_EQ(lr.guidance_size(), 1);
  EXPECT_EQ(lr.guidance(0).topic_id(), "blood-clot-warning-signs");
  ASSERT_TRUE(Lookup(stub.get(), v1::CODE_SYSTEM_ICD10CM, "J45.909", &lr).ok());
  EXPECT_EQ(lr.guidance_size(), 0);
  s = Lookup(stub.get(), v1::CODE_SYSTEM_ICD10CM, "R2", &lr);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetFieldViolations(FromGrpcStatus(s)).at(0).field, "code");

  // Paging.
  v1::ListTopicsRequest lt_req;
  lt_req.set_page_size(3);
  int total = 0;
  for (int pages = 0; pages < 10; ++pages) {
    v1::ListTopicsResponse page;
    ASSERT_TRUE(Call(&v1::ContentService::Stub::ListTopics, stub.get(), lt_req, &page).ok());
    total += page.topics_size();
    if (page.next_page_token().empty()) break;
    lt_req.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(total, 9);
  lt_req.set_page_token("tampered");
  v1::ListTopicsResponse page;
  EXPECT_EQ(Call(&v1::ContentService::Stub::ListTopics, stub.get(), lt_req, &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Nudge texts for the reminder service.
  v1::ListNudgeTextsRequest nr;
  nr.set_locale("es");
  v1::ListNudgeTextsResponse nudges;
  ASSERT_TRUE(Call(&v1::ContentService::Stub::ListNudgeTexts, stub.get(), nr, &nudges).ok());
  EXPECT_EQ(nudges.nudge_texts_size(), 4);
  EXPECT_EQ(nudges.locale(), "es");
}

TEST(ContentIntegrationTest, RedisMissThenHitAndNegativeCaching) {
  lt::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  // L1 off, so every request goes to Redis and a hit is visible.
  lt::ServiceProcess svc("legwise-content", {"--redis_addr=" + redis.address(), "--l1_capacity=0"});
  ASSERT_TRUE(svc.Start().ok());
  auto stub = Stub(svc);
  RedisOptions ro;
  ro.address = redis.address();
  RedisClient client(ro);

  v1::LookupGuidanceByCodeResponse first;
  ASSERT_TRUE(Lookup(stub.get(), v1::CODE_SYSTEM_ICD10CM, "R25.2", &first).ok());
  std::vector<std::string> keys = ContentKeys(client);
  ASSERT_EQ(keys.size(), 1u);
  const std::string key = keys[0];
  EXPECT_THAT(key, HasSubstr(first.guidance(0).version()));
  EXPECT_THAT(key, HasSubstr("R25.2"));
  absl::StatusOr<RedisReply> ttl = client.Command({"PTTL", key});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GE(ttl->integer, 54 * 60 * 1000);  // 1 h +/- 10% jitter
  EXPECT_LE(ttl->integer, 66 * 60 * 1000);

  // Same request, spelled differently: same key (normalized), no new key; and what Redis holds is
  // what is served (a hit): overwrite it with a marked copy.
  v1::LookupGuidanceByCodeResponse marked = first;
  marked.set_normalized_code("R25.2");
  marked.mutable_guidance(0)->set_title("served from redis");
  ASSERT_TRUE(client.Command({"SET", key, marked.SerializeAsString(), "KEEPTTL"}).ok());
  v1::LookupGuidanceByCodeResponse second;
  ASSERT_TRUE(Lookup(stub.get(), v1::CODE_SYSTEM_ICD10CM, "r252", &second).ok());
  EXPECT_EQ(second.guidance(0).title(), "served from redis");
  EXPECT_EQ(ContentKeys(client).size(), 1u);

  // A corrupt value in Redis is never served: the catalog answers instead.
  ASSERT_TRUE(
      client.Command({"SET", key, std::string("\xff\xfe not a response", 18), "KEEPTTL"}).ok());
  v1::LookupGuidanceByCodeResponse third;
  ASSERT_TRUE(Lookup(stub.get(), v1::CODE_SYSTEM_ICD10CM, "R25.2", &third).ok());
  EXPECT_EQ(third.guidance(0).title(), first.guidance(0).title());

  // Negative caching: an unknown code is cached with the short TTL.
  v1::LookupGuidanceByCodeResponse none;
  ASSERT_TRUE(Lookup(stub.get(), v1::CODE_SYSTEM_SNOMEDCT, "195967001", &none).ok());
  EXPECT_EQ(none.guidance_size(), 0);
  bool found = false;
  for (const std::string& k : ContentKeys(client)) {
    if (!absl::StrContains(k, "195967001")) continue;
    found = true;
    absl::StatusOr<RedisReply> nttl = client.Command({"PTTL", k});
    ASSERT_TRUE(nttl.ok());
    EXPECT_GT(nttl->integer, 0);
    EXPECT_LE(nttl->integer, 5 * 60 * 1000);
  }
  EXPECT_TRUE(found);
}

TEST(ContentIntegrationTest, SighupReloadBumpsTheVersionAndTheKeys) {
  lt::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  const fs::path dir = fs::temp_directory_path() / absl::StrCat("legwise-catalog-", ::getpid());
  fs::remove_all(dir);
  fs::copy(LEGWISE_CONTENT_CATALOG_DIR, dir, fs::copy_options::recursive);
  lt::ServiceProcess svc("legwise-content",
                         {"--redis_addr=" + redis.address(), "--catalog_dir=" + dir.string()});
  ASSERT_TRUE(svc.Start().ok());
  auto stub = Stub(svc);
  RedisOptions ro;
  ro.address = redis.address();
  RedisClient client(ro);

  v1::GetGuidanceResponse before;
  ASSERT_TRUE(Get(stub.get(), "hydration", "en", &before).ok());
  const std::string v1_version = before.guidance().version();

  // A clinician edits a title; the service reloads on SIGHUP.
  const fs::path file = dir / "en" / "hydration.textproto";
  std::stringstream text;
  text << std::ifstream(file).rdbuf();
  std::string edited = absl::StrReplaceAll(
      text.str(),
      {{"title: \"Drinking enough water\"", "title: \"Drinking enough water, reviewed\""}});
  ASSERT_NE(edited, text.str());
  std::ofstream(file, std::ios::trunc) << edited;
  svc.process().Signal(SIGHUP);

  v1::GetGuidanceResponse after;
  ASSERT_TRUE(Eventually([&] {
    return Get(stub.get(), "hydration", "en", &after).ok() &&
           after.guidance().version() != v1_version;
  }));
  EXPECT_EQ(after.guidance().title(), "Drinking enough water, reviewed");
  EXPECT_NE(after.guidance().etag(), before.guidance().etag());
  // The old etag no longer matches: a client holding it gets the new body.
  v1::GetGuidanceResponse revalidated;
  ASSERT_TRUE(Get(stub.get(), "hydration", "en", &revalidated, before.guidance().etag()).ok());
  EXPECT_FALSE(revalidated.not_modified());
  bool old_key = false, new_key = false;
  for (const std::string& k : ContentKeys(client)) {
    old_key |= absl::StrContains(k, v1_version);
    new_key |= absl::StrContains(k, after.guidance().version());
  }
  EXPECT_TRUE(old_key);
  EXPECT_TRUE(new_key);

  // A broken catalog is refused: the service keeps serving the last good one.
  std::ofstream(dir / "es" / "hydration.textproto", std::ios::trunc) << "this is { not a catalog";
  svc.process().Signal(SIGHUP);
  absl::SleepFor(absl::Milliseconds(500));
  v1::GetGuidanceResponse still;
  ASSERT_TRUE(Get(stub.get(), "hydration", "es", &still).ok());
  EXPECT_EQ(still.guidance().version(), after.guidance().version());
  fs::remove_all(dir);
}

TEST(ContentIntegrationTest, RedisKilledMidTestAndBackNoRequestFails) {
  lt::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  lt::ServiceProcess svc("legwise-content", {"--redis_addr=" + redis.address(), "--l1_capacity=0",
                                             "--redis_retry_interval=200ms", kHealthInterval});
  ASSERT_TRUE(svc.Start().ok());
  auto stub = Stub(svc);
  RedisOptions ro;
  ro.address = redis.address();
  RedisClient client(ro);

  int failures = 0, calls = 0;
  auto burst = [&](const std::string& topic) {
    for (int i = 0; i < 20; ++i) {
      v1::GetGuidanceResponse r;
      ++calls;
      if (!Get(stub.get(), topic, i % 2 ? "es" : "en", &r).ok() || r.guidance().title().empty()) {
        ++failures;
      }
    }
  };
  burst("leg-cramps");
  EXPECT_TRUE(Eventually(
      [&] { return lt::CheckHealth(svc.channel().get(), "dependency/redis").value_or(0) == 1; }));
  EXPECT_FALSE(ContentKeys(client).empty());

  redis.Kill();
  burst("restless-legs");
  EXPECT_TRUE(Eventually(
      [&] { return lt::CheckHealth(svc.channel().get(), "dependency/redis").value_or(0) == 2; }));
  EXPECT_EQ(lt::CheckHealth(svc.channel().get(), "").value_or(0), 1)
      << "content serves without Redis";
  EXPECT_TRUE(
      Eventually([&] { return absl::StrContains(Metrics(svc), "legwise_content_degraded 1"); }));
  burst("swelling");

  ASSERT_TRUE(redis.Start().ok());
  EXPECT_TRUE(Eventually(
      [&] { return lt::CheckHealth(svc.channel().get(), "dependency/redis").value_or(0) == 1; }));
  // The client reconnected by itself: new answers are written to Redis again.
  EXPECT_TRUE(Eventually([&] {
    burst("stretching");
    for (const std::string& k : ContentKeys(client)) {
      if (absl::StrContains(k, "stretching")) return true;
    }
    return false;
  }));
  EXPECT_TRUE(
      Eventually([&] { return absl::StrContains(Metrics(svc), "legwise_content_degraded 0"); }));
  EXPECT_EQ(failures, 0) << "of " << calls << " calls";
}

TEST(ContentIntegrationTest, SlowRedisDegradesInsteadOfDelaying) {
  lt::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  lt::ServiceProcess svc("legwise-content", {"--redis_addr=" + redis.address(), "--l1_capacity=0",
                                             "--redis_timeout=50ms", kHealthInterval});
  ASSERT_TRUE(svc.Start().ok());
  auto stub = Stub(svc);
  v1::GetGuidanceResponse warm;
  ASSERT_TRUE(Get(stub.get(), "leg-cramps", "en", &warm).ok());

  // Make Redis unresponsive for 3 s: a script that spins (Redis runs scripts to completion and
  // answers nobody meanwhile).
  std::thread blocker([&] {
    RedisOptions ro;
    ro.address = redis.address();
    ro.command_timeout = absl::Seconds(10);
    RedisClient slow(ro);
    (void)slow.Command({"EVAL",
                        "local s = tonumber(redis.call('TIME')[1]) "
                        "while tonumber(redis.call('TIME')[1]) < s + 3 do end return 1",
                        "0"});
  });
  absl::SleepFor(absl::Milliseconds(200));
  // Every call has a 1 s deadline: waiting for Redis (3 s) would fail it.
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    v1::GetGuidanceRequest r;
    r.set_topic_id(i % 2 ? "swelling" : "hydration");
    r.set_locale("es");
    v1::GetGuidanceResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    if (!stub->GetGuidance(&ctx, r, &resp).ok() || resp.guidance().title().empty()) ++failures;
  }
  EXPECT_EQ(failures, 0);
  EXPECT_TRUE(
      Eventually([&] { return absl::StrContains(Metrics(svc), "legwise_content_degraded 1"); },
                 absl::Seconds(2)));
  blocker.join();
  EXPECT_TRUE(
      Eventually([&] { return absl::StrContains(Metrics(svc), "legwise_content_degraded 0"); }));
}

}  // namespace
}  // namespace legwise::content
