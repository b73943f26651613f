// End-to-end content benchmarks against the real legwise-content process and a real redis-server:
//   BM_GuidanceToHealthRatio  cached GetGuidance throughput as a ratio of the same server's
//                             grpc.health.v1 Health/Check throughput (closed loop, 64 calls in
//                             flight)
//   BM_UnaryLatency           one call at a time: Health/Check vs cached GetGuidance (cache-hit
//   latency) BM_SingleFlightBurst      1,000 concurrent identical misses through the cache against
//   real Redis:
//                             Redis round trips and renders per burst
#include <atomic>
#include <condition_variable>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "services/common/redis_client.h"
#include "services/content/catalog/content_core.h"
#include "services/content/content_cache.h"
#include "services/content/redis_store.h"
#include "tests/support/process.h"

namespace legwise::content {
namespace {

namespace lt = ::legwise::testing;
using HealthStub = grpc::health::v1::Health::Stub;

struct Env {
  lt::RedisServer redis;
  std::unique_ptr<lt::ServiceProcess> server;
  std::unique_ptr<v1::ContentService::Stub> content;
  std::unique_ptr<HealthStub> health;
  std::unique_ptr<grpc::GenericStub> generic;
  bool ok = false;
};

Env& TheEnv() {
  static Env* env = [] {
    auto* e = new Env();
    if (!e->redis.Start().ok()) return e;
    e->server = std::make_unique<lt::ServiceProcess>(
        "legwise-content", std::vector<std::string>{"--redis_addr=" + e->redis.address()});
    if (!e->server->Start().ok()) return e;
    e->content = v1::ContentService::NewStub(e->server->channel());
    e->health = grpc::health::v1::Health::NewStub(e->server->channel());
    e->generic = std::make_unique<grpc::GenericStub>(e->server->channel());
    e->ok = true;
    return e;
  }();
  return *env;
}

v1::GetGuidanceRequest GuidanceRequest() {
  v1::GetGuidanceRequest r;
  r.set_topic_id("leg-cramps");
  r.set_locale("es");
  r.mutable_context()->set_stands_for_long_periods(true);
  return r;
}

// Starts one call; `done(ok)` runs when it completes.
using Issue = std::function<void(std::function<void(bool)>)>;

Issue HealthIssue(HealthStub* stub) {
  return [stub](std::function<void(bool)> done) {
    struct Call {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
    };
    auto* c = new Call();
    stub->async()->Check(&c->ctx, &c->req, &c->resp, [c, done](grpc::Status s) {
      delete c;
      done(s.ok());
    });
  };
}

Issue GuidanceIssue(v1::ContentService::Stub* stub) {
  return [stub](std::function<void(bool)> done) {
    struct Call {
      grpc::ClientContext ctx;
      v1::GetGuidanceRequest req = GuidanceRequest();
      v1::GetGuidanceResponse resp;
    };
    auto* c = new Call();
    stub->async()->GetGuidance(&c->ctx, &c->req, &c->resp, [c, done](grpc::Status s) {
      bool ok = s.ok() && !c->resp.guidance().title().empty();
      delete c;
      done(ok);
    });
  };
}

// A call through the generic stub: the request is pre-serialized and the response is not parsed, so
// the client spends the same (small) effort on both methods and the figures measure the server.
Issue RawIssue(grpc::GenericStub* stub, std::string method, const google::protobuf::Message& req) {
  auto bytes = std::make_shared<const std::string>(req.SerializeAsString());
  return [stub, method, bytes](std::function<void(bool)> done) {
    struct Call {
      grpc::ClientContext ctx;
      grpc::ByteBuffer req;
      grpc::ByteBuffer resp;
    };
    auto* c = new Call();
    grpc::Slice slice(*bytes);
    c->req = grpc::ByteBuffer(&slice, 1);
    stub->UnaryCall(&c->ctx, method, grpc::StubOptions(), &c->req, &c->resp,
                    [c, done](grpc::Status s) {
                      bool ok = s.ok() && c->resp.Length() > 0;
                      delete c;
                      done(ok);
                    });
  };
}

// Closed loop: keeps `inflight` calls outstanding for `duration`; returns completed calls per
// second.
double RunLoad(const Issue& issue, int inflight, absl::Duration duration, int64_t* failures) {
  std::mutex mu;
  std::condition_variable cv;
  int active = inflight;
  std::atomic<int64_t> completed{0}, failed{0};
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  std::function<void(bool)> on_done;
  on_done = [&](bool ok) {
    completed.fetch_add(1, std::memory_order_relaxed);
    if (!ok) failed.fetch_add(1, std::memory_order_relaxed);
    if (absl::Now() < end) {
      issue(on_done);
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    if (--active == 0) cv.notify_all();
  };
  for (int i = 0; i < inflight; ++i) issue(on_done);
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return active == 0; });
  *failures += failed.load();
  return static_cast<double>(completed.load()) / absl::ToDoubleSeconds(absl::Now() - start);
}

void BM_GuidanceToHealthRatio(benchmark::State& state) {
  Env& env = TheEnv();
  if (!env.ok) {
    state.SkipWithError("could not start redis-server and legwise-content");
    return;
  }
  const int inflight = static_cast<int>(state.range(0));
  const bool typed = state.range(1) == 1;
  const Issue health = typed ? HealthIssue(env.health.get())
                             : RawIssue(env.generic.get(), "/grpc.health.v1.Health/Check",
                                        grpc::health::v1::HealthCheckRequest());
  const Issue guidance =
      typed ? GuidanceIssue(env.content.get())
            : RawIssue(env.generic.get(), "/legwise.content.v1.ContentService/GetGuidance",
                       GuidanceRequest());
  state.SetLabel(typed ? "typed client (parses responses)" : "raw client (server cost only)");
  int64_t failures = 0;
  RunLoad(guidance, inflight, absl::Milliseconds(500),
          &failures);  // warm the cache and connections
  double h = 0, g = 0;
  for (auto _ : state) {
    // Interleaved rounds so both see the same machine conditions.
    for (int round = 0; round < 2; ++round) {
      h += RunLoad(health, inflight, absl::Seconds(2), &failures);
      g += RunLoad(guidance, inflight, absl::Seconds(2), &failures);
    }
  }
  state.counters["health_qps"] = h / 2 / state.iterations();
  state.counters["guidance_qps"] = g / 2 / state.iterations();
  state.counters["ratio"] = g / h;
  state.counters["failures"] = static_cast<double>(failures);
}
BENCHMARK(BM_GuidanceToHealthRatio)
    ->Args({64, 0})
    ->Args({64, 1})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

// One call at a time: arg 0 = Health/Check, 1 = GetGuidance (cache hit).
void BM_UnaryLatency(benchmark::State& state) {
  Env& env = TheEnv();
  if (!env.ok) {
    state.SkipWithError("could not start redis-server and legwise-content");
    return;
  }
  const v1::GetGuidanceRequest req = GuidanceRequest();
  for (auto _ : state) {
    grpc::ClientContext ctx;
    grpc::Status s;
    if (state.range(0) == 0) {
      grpc::health::v1::HealthCheckRequest hreq;
      grpc::health::v1::HealthCheckResponse hresp;
      s = env.health->Check(&ctx, hreq, &hresp);
    } else {
      v1::GetGuidanceResponse resp;
      s = env.content->GetGuidance(&ctx, req, &resp);
    }
    if (!s.ok()) state.SkipWithError("call failed");
  }
  state.SetLabel(state.range(0) == 0 ? "Health/Check" : "GetGuidance cached");
}
BENCHMARK(BM_UnaryLatency)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

// 1,000 threads ask for the same uncached key at once, through the real cache and real Redis.
void BM_SingleFlightBurst(benchmark::State& state) {
  Env& env = TheEnv();
  if (!env.ok) {
    state.SkipWithError("could not start redis-server");
    return;
  }
  static const std::shared_ptr<const Catalog> catalog = *Catalog::Load(EmbeddedCatalogFileMap());
  RedisOptions ro;
  ro.address = env.redis.address();
  RedisClient client(ro);
  RedisRemoteStore store(&client);
  ContentCache cache(ContentCacheOptions{}, &store);
  constexpr int kCallers = 1000;
  uint64_t trips = 0, renders = 0, bursts = 0;
  int64_t failures = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string key = absl::StrCat("bench:", absl::ToUnixNanos(absl::Now()), ":", bursts);
    const uint64_t trips0 = client.round_trips();
    const uint64_t renders0 = cache.stats().renders;
    std::latch start(kCallers);
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    threads.reserve(kCallers);
    state.ResumeTiming();
    for (int i = 0; i < kCallers; ++i) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        cache.Get(
            key,
            []() -> absl::StatusOr<Rendered> {
              LookupKey k{v1::CODE_SYSTEM_ICD10CM, "O22.33", "en", {}};
              return Rendered{RenderLookup(*catalog, k)->SerializeAsString(), false};
            },
            [&](ContentCache::Result r) {
              if (!r.ok()) ++failures;
              done.fetch_add(1);
            });
      });
    }
    for (auto& t : threads) t.join();
    state.PauseTiming();
    trips += client.round_trips() - trips0;
    renders += cache.stats().renders - renders0;
    ++bursts;
    state.ResumeTiming();
  }
  state.counters["redis_round_trips_per_burst"] = static_cast<double>(trips) / bursts;
  state.counters["renders_per_burst"] = static_cast<double>(renders) / bursts;
  state.counters["coalesced_total"] = static_cast<double>(cache.stats().coalesced);
  state.counters["failures"] = static_cast<double>(failures);
}
BENCHMARK(BM_SingleFlightBurst)->Iterations(10)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace legwise::content
