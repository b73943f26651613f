// The gRPC adapter of legwise.content.v1.ContentService (callback API): validates through the core,
// answers GetGuidance and LookupGuidanceByCode through the cache, ListTopics and ListNudgeTexts
// straight from the catalog, and maps errors with ToGrpcStatus. No medical logic here.
#ifndef LEGWISE_SERVICES_CONTENT_CONTENT_SERVICE_H_
#define LEGWISE_SERVICES_CONTENT_CONTENT_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/byte_buffer.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "services/common/security.h"
#include "services/content/catalog/catalog.h"
#include "services/content/content_cache.h"

namespace legwise::content {

// The catalog being served. Reload swaps in a new one; calls in flight keep the one they started
// with.
class CatalogHolder {
 public:
  explicit CatalogHolder(std::shared_ptr<const Catalog> catalog) : catalog_(std::move(catalog)) {}
  std::shared_ptr<const Catalog> Get() const {
    absl::MutexLock lock(&mu_);
    return catalog_;
  }
  void Set(std::shared_ptr<const Catalog> catalog) {
    absl::MutexLock lock(&mu_);
    catalog_ = std::move(catalog);
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const Catalog> catalog_ ABSL_GUARDED_BY(mu_);
};

// Loads the catalog from `dir`, or the embedded copy when `dir` is empty. Fails (and changes
// nothing) when the files do not parse or do not pass the catalog checks.
absl::StatusOr<std::shared_ptr<const Catalog>> LoadCatalog(const std::string& dir);

// Reloads into `holder` (SIGHUP): on success the version changes when any file changed, and the L1
// cache is dropped; on failure the old catalog keeps serving. Logs the outcome (no content).
absl::Status ReloadCatalog(const std::string& dir, CatalogHolder* holder, ContentCache* cache);

// Publishes the cache counters, L1 size, catalog version and degraded state as Prometheus metrics.
// `remote_ok` is the last Redis probe result.
void PublishContentMetrics(const CatalogHolder& holder, const ContentCache& cache, bool remote_ok);

// GetGuidance and LookupGuidanceByCode are served as raw (pre-serialized) methods: the cache holds
// the serialized response, and a hit hands those bytes to gRPC without parsing or serializing the
// multi-kilobyte Guidance again. The wire format is the ordinary one.
using ContentServiceBase = v1::ContentService::WithRawCallbackMethod_GetGuidance<
    v1::ContentService::WithRawCallbackMethod_LookupGuidanceByCode<
        v1::ContentService::CallbackService>>;

class ContentServiceImpl final : public ContentServiceBase {
 public:
  // All must outlive the service. `guard` authenticates and rate-limits every call (any
  // authenticated caller, user or service, may read guidance); null admits every call (tests).
  ContentServiceImpl(CatalogHolder* catalog, ContentCache* cache, CallGuard* guard = nullptr)
      : catalog_(catalog), cache_(cache), guard_(guard) {}

  // The methods served as raw ByteBuffers (ServerRunner::AddService must know them).
  static inline const std::vector<std::string> kRawMethods = {"GetGuidance",
                                                              "LookupGuidanceByCode"};

  // Raw GetGuidance: request is a serialized GetGuidanceRequest, response a GetGuidanceResponse.
  grpc::ServerUnaryReactor* GetGuidance(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  // Raw LookupGuidanceByCode, likewise.
  grpc::ServerUnaryReactor* LookupGuidanceByCode(grpc::CallbackServerContext* context,
                                                 const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListTopics(grpc::CallbackServerContext* context,
                                       const v1::ListTopicsRequest* request,
                                       v1::ListTopicsResponse* response) override;
  grpc::ServerUnaryReactor* ListNudgeTexts(grpc::CallbackServerContext* context,
                                           const v1::ListNudgeTextsRequest* request,
                                           v1::ListNudgeTextsResponse* response) override;

 private:
  absl::Status Admit(grpc::CallbackServerContext* context) const;

  CatalogHolder* catalog_;
  ContentCache* cache_;
  CallGuard* guard_;
};

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CONTENT_SERVICE_H_
