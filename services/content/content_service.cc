#include "services/content/content_service.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/slice.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "services/common/validation.h"
#include "services/content/catalog/content_core.h"

namespace legwise::content {
namespace {

// The cache key of one request under one catalog version.
std::string VersionedKey(const Catalog& catalog, const std::string& request_key) {
  return absl::StrCat(catalog.version(), ":", request_key);
}

// Parses a raw request. A request that is not the message is INVALID_ARGUMENT, as gRPC's own
// deserializer would answer.
absl::Status ParseRequest(const grpc::ByteBuffer* bytes, google::protobuf::Message* out) {
  std::vector<grpc::Slice> slices;
  if (!bytes->Dump(&slices).ok()) return absl::InvalidArgumentError("unreadable request");
  std::string joined;
  joined.reserve(bytes->Length());
  for (const grpc::Slice& s : slices)
    joined.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // The raw bytes are not read again: free them now, so that a caller who never reads the answer
  // (a zero HTTP/2 window) keeps only the small parsed request and the answer alive, and the
  // parsed request keeps no unknown fields (the runner does the same for non-raw methods).
  const_cast<grpc::ByteBuffer*>(bytes)->Clear();
  if (!out->ParseFromString(joined)) return absl::InvalidArgumentError("malformed request message");
  out->DiscardUnknownFields();
  return absl::OkStatus();
}

// Wraps cached bytes in a ByteBuffer without copying them: the slice keeps the cache entry alive.
grpc::ByteBuffer ToByteBuffer(CachedBytes bytes) {
  auto* owner = new CachedBytes(std::move(bytes));
  grpc::Slice slice(
      const_cast<char*>((*owner)->data()), (*owner)->size(),
      [](void* p) { delete static_cast<CachedBytes*>(p); }, owner);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Catalog>> LoadCatalog(const std::string& dir) {
  if (dir.empty()) return Catalog::Load(EmbeddedCatalogFileMap());
  absl::StatusOr<CatalogFiles> files = ReadCatalogDir(dir);
  if (!files.ok()) return files.status();
  return Catalog::Load(*files);
}

absl::Status ReloadCatalog(const std::string& dir, CatalogHolder* holder, ContentCache* cache) {
  Metrics::Default().Describe("legwise_content_catalog_reloads_total", "counter",
                              "Catalog reloads (SIGHUP), by result.");
  absl::StatusOr<std::shared_ptr<const Catalog>> next = LoadCatalog(dir);
  const std::string old_version = holder->Get()->version();
  if (!next.ok()) {
    Metrics::Default().Increment("legwise_content_catalog_reloads_total", {{"result", "error"}});
    LogError("catalog_reload_failed",
             {{"error", std::string(next.status().message())}, {"version", old_version}});
    return next.status();
  }
  holder->Set(*next);
  cache->ClearL1();
  if (old_version != (*next)->version()) {
    Metrics::Default().Set("legwise_content_catalog_info", {{"version", old_version}}, 0);
    Metrics::Default().Set("legwise_content_catalog_info", {{"version", (*next)->version()}}, 1);
  }
  Metrics::Default().Increment("legwise_content_catalog_reloads_total", {{"result", "ok"}});
  LogInfo("catalog_reloaded", {{"old_version", old_version}, {"version", (*next)->version()}});
  return absl::OkStatus();
}

void PublishContentMetrics(const CatalogHolder& holder, const ContentCache& cache, bool remote_ok) {
  Metrics& m = Metrics::Default();
  const ContentCacheStats s = cache.stats();
  m.Describe("legwise_content_cache_requests_total", "counter",
             "Cached lookups by tier and result (l1 hit; redis hit, miss, error, skipped).");
  m.Set("legwise_content_cache_requests_total", {{"tier", "l1"}, {"result", "hit"}},
        static_cast<double>(s.l1_hits));
  m.Set("legwise_content_cache_requests_total", {{"tier", "redis"}, {"result", "hit"}},
        static_cast<double>(s.remote_hits));
  m.Set("legwise_content_cache_requests_total", {{"tier", "redis"}, {"result", "miss"}},
        static_cast<double>(s.remote_misses));
  m.Set("legwise_content_cache_requests_total", {{"tier", "redis"}, {"result", "error"}},
        static_cast<double>(s.remote_errors));
  m.Set("legwise_content_cache_requests_total", {{"tier", "redis"}, {"result", "skipped"}},
        static_cast<double>(s.remote_skipped));
  m.Set("legwise_content_cache_requests_total", {{"tier", "redis"}, {"result", "invalid"}},
        static_cast<double>(s.remote_invalid));
  m.Describe("legwise_content_renders_total", "counter", "Answers rendered from the catalog.");
  m.Set("legwise_content_renders_total", {}, static_cast<double>(s.renders));
  m.Describe("legwise_content_cache_coalesced_total", "counter",
             "Requests that waited for an identical request's flight (single-flight).");
  m.Set("legwise_content_cache_coalesced_total", {}, static_cast<double>(s.coalesced));
  m.Describe("legwise_content_cache_negative_stored_total", "counter",
             "Negative answers (unknown codes) stored in Redis with the short TTL.");
  m.Set("legwise_content_cache_negative_stored_total", {}, static_cast<double>(s.negative_stored));
  m.Describe("legwise_content_l1_entries", "gauge", "Answers held in the in-process LRU.");
  m.Set("legwise_content_l1_entries", {}, static_cast<double>(s.l1_entries));
  m.Describe("legwise_content_degraded", "gauge",
             "1 when Redis is unreachable or slow and answers come straight from the catalog.");
  m.Set("legwise_content_degraded", {}, (cache.degraded() || !remote_ok) ? 1 : 0);
  m.Describe("legwise_content_catalog_info", "gauge", "The catalog version being served.");
  m.Set("legwise_content_catalog_info", {{"version", holder.Get()->version()}}, 1);
}

absl::Status ContentServiceImpl::Admit(grpc::CallbackServerContext* context) const {
  if (guard_ == nullptr) return absl::OkStatus();
  return guard_->Admit(context).status();
}

grpc::ServerUnaryReactor* ContentServiceImpl::GetGuidance(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* request_bytes,
                                                          grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = Admit(context); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  v1::GetGuidanceRequest request;
  if (absl::Status s = ParseRequest(request_bytes, &request); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  absl::StatusOr<GuidanceKey> key = PrepareGetGuidance(*catalog, request);
  if (!key.ok()) {
    reactor->Finish(ToGrpcStatus(key.status()));
    return reactor;
  }
  if (!request.if_none_match().empty() &&
      request.if_none_match() == ComputeEtag(catalog->version(), *key)) {
    v1::GetGuidanceResponse not_modified;
    not_modified.set_not_modified(true);
    *response = ToByteBuffer(std::make_shared<const std::string>(not_modified.SerializeAsString()));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  GuidanceKey k = *std::move(key);
  cache_->Get(
      VersionedKey(*catalog, k.CacheKey()),
      [catalog, k]() -> absl::StatusOr<Rendered> {
        v1::GetGuidanceResponse r;
        absl::StatusOr<v1::Guidance> g = RenderGuidance(*catalog, k);
        if (!g.ok()) return g.status();
        *r.mutable_guidance() = *std::move(g);
        return Rendered{r.SerializeAsString(), false};
      },
      [reactor, response](ContentCache::Result result) {
        if (result.ok()) *response = ToByteBuffer(*result);
        reactor->Finish(ToGrpcStatus(result.status()));
      },
      [](const std::string& bytes) { return v1::GetGuidanceResponse().ParseFromString(bytes); });
  return reactor;
}

grpc::ServerUnaryReactor* ContentServiceImpl::LookupGuidanceByCode(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = Admit(context); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  v1::LookupGuidanceByCodeRequest request;
  if (absl::Status s = ParseRequest(request_bytes, &request); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  absl::StatusOr<LookupKey> key = PrepareLookup(*catalog, request);
  if (!key.ok()) {
    reactor->Finish(ToGrpcStatus(key.status()));
    return reactor;
  }
  LookupKey k = *std::move(key);
  cache_->Get(
      VersionedKey(*catalog, k.CacheKey()),
      [catalog, k]() -> absl::StatusOr<Rendered> {
        absl::StatusOr<v1::LookupGuidanceByCodeResponse> r = RenderLookup(*catalog, k);
        if (!r.ok()) return r.status();
        return Rendered{r->SerializeAsString(), r->guidance().empty()};
      },
      [reactor, response](ContentCache::Result result) {
        if (result.ok()) *response = ToByteBuffer(*result);
        reactor->Finish(ToGrpcStatus(result.status()));
      },
      [](const std::string& bytes) {
        return v1::LookupGuidanceByCodeResponse().ParseFromString(bytes);
      });
  return reactor;
}

grpc::ServerUnaryReactor* ContentServiceImpl::ListTopics(grpc::CallbackServerContext* context,
                                                         const v1::ListTopicsRequest* request,
                                                         v1::ListTopicsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = Admit(context); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  absl::StatusOr<v1::ListTopicsResponse> r = content::ListTopics(*catalog_->Get(), *request);
  if (r.ok()) *response = *std::move(r);
  reactor->Finish(ToGrpcStatus(r.status()));
  return reactor;
}

grpc::ServerUnaryReactor* ContentServiceImpl::ListNudgeTexts(
    grpc::CallbackServerContext* context, const v1::ListNudgeTextsRequest* request,
    v1::ListNudgeTextsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = Admit(context); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  absl::StatusOr<v1::ListNudgeTextsResponse> r =
      content::ListNudgeTexts(*catalog_->Get(), *request);
  if (r.ok()) *response = *std::move(r);
  reactor->Finish(ToGrpcStatus(r.status()));
  return reactor;
}

}  // namespace legwise::content
