// In-process costs of the content service's request path: rendering from the catalog (a miss)
// versus an L1 cache hit, each including what the adapter does (validate, key, parse into the
// response).
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "services/content/catalog/content_core.h"
#include "services/content/content_cache.h"

namespace legwise::content {
namespace {

const Catalog& TheCatalog() {
  static const std::shared_ptr<const Catalog> c = *Catalog::Load(EmbeddedCatalogFileMap());
  return *c;
}

v1::GetGuidanceRequest Request() {
  v1::GetGuidanceRequest r;
  r.set_topic_id("leg-cramps");
  r.set_locale("es-MX");
  r.mutable_context()->set_gestational_age_weeks(30);
  r.mutable_context()->set_stands_for_long_periods(true);
  return r;
}

// The uncached path: validate, render, serialize.
void BM_GetGuidanceUncached(benchmark::State& state) {
  const Catalog& c = TheCatalog();
  const v1::GetGuidanceRequest req = Request();
  for (auto _ : state) {
    absl::StatusOr<GuidanceKey> key = PrepareGetGuidance(c, req);
    absl::StatusOr<v1::Guidance> g = RenderGuidance(c, *key);
    std::string bytes = g->SerializeAsString();
    benchmark::DoNotOptimize(bytes);
  }
}
BENCHMARK(BM_GetGuidanceUncached);

// The cache-hit path as the adapter runs it: parse the request bytes, validate, key, L1 hit. The
// adapter hands the cached response bytes to gRPC as they are (no parse, no serialize).
void BM_GetGuidanceL1Hit(benchmark::State& state) {
  const Catalog& c = TheCatalog();
  static ContentCache* cache = new ContentCache(ContentCacheOptions{}, nullptr);
  const std::string request_bytes = Request().SerializeAsString();
  size_t served = 0;
  for (auto _ : state) {
    v1::GetGuidanceRequest req;
    req.ParseFromString(request_bytes);
    absl::StatusOr<GuidanceKey> key = PrepareGetGuidance(c, req);
    GuidanceKey k = *key;
    cache->Get(
        c.version() + ":" + k.CacheKey(),
        [&c, k]() -> absl::StatusOr<Rendered> {
          v1::GetGuidanceResponse r;
          *r.mutable_guidance() = *RenderGuidance(c, k);
          return Rendered{r.SerializeAsString(), false};
        },
        [&served](ContentCache::Result r) { served += (*r)->size(); });
  }
  benchmark::DoNotOptimize(served);
  state.counters["renders"] = benchmark::Counter(static_cast<double>(cache->stats().renders),
                                                 benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_GetGuidanceL1Hit);
BENCHMARK(BM_GetGuidanceL1Hit)->Threads(2);

// The code lookup miss path (normalize, parent walk, render every match).
void BM_LookupUncached(benchmark::State& state) {
  const Catalog& c = TheCatalog();
  v1::LookupGuidanceByCodeRequest req;
  req.set_code_system(v1::CODE_SYSTEM_ICD10CM);
  req.set_code("o2233");
  for (auto _ : state) {
    auto r = LookupGuidanceByCode(c, req);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_LookupUncached);

}  // namespace
}  // namespace legwise::content
