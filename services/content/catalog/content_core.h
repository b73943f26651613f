// The content service's logic, free of gRPC and Redis: validate a request, resolve its locale,
// personalize, compute etags, look codes up, page topics. Every function is a pure function of the
// catalog and the request, so the adapter, the cache and the tests all get the same answers.
//
// Lookups are split in two steps, Prepare* (validate + normalize into a small key) and Render*
// (build the body), so the cache can key on the prepared request and only render on a miss.
#ifndef LEGWISE_SERVICES_CONTENT_CATALOG_CONTENT_CORE_H_
#define LEGWISE_SERVICES_CONTENT_CATALOG_CONTENT_CORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "legwise/content/v1/content.pb.h"
#include "services/common/validation.h"
#include "services/content/catalog/catalog.h"

namespace legwise::content {

// Default and maximum ListTopics page sizes (AIP-158).
inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 100;
// Longest accepted topic id and etag.
inline constexpr size_t kMaxTopicIdLength = 64;
inline constexpr size_t kMaxEtagLength = 128;

// What of PersonalContext changes a body. Weeks are bucketed into trimesters, so every week of one
// trimester shares one body, one etag and one cache entry.
struct Personalization {
  // 0 = unknown / not pregnant, else 1..3 (ICD-10-CM trimesters: < 14w, 14-27w, >= 28w).
  int trimester = 0;
  bool postpartum = false;
  bool stands_for_long_periods = false;
  // Weeks since birth when postpartum (1..52): some notes hold only for the weeks their sources
  // say.
  int postpartum_weeks = 0;

  // Canonical short form for etags and cache keys, e.g. "t3s" or "pp4" or "-".
  std::string Key() const;
  friend bool operator==(const Personalization&, const Personalization&) = default;
};

// Checks a PersonalContext (weeks 0 or 1..45, postpartum 0 or 1..52, not both), adding violations
// under `field_prefix` ("context"), and returns its Personalization.
Personalization CheckPersonalContext(const v1::PersonalContext& context,
                                     absl::string_view field_prefix, FieldViolations* violations);

// Checks a locale field (well-formed BCP-47-ish, at most 35 characters) and returns the catalog
// locale that serves it (fallback: the catalog's first locale).
std::string CheckLocale(const Catalog& catalog, absl::string_view locale, absl::string_view field,
                        FieldViolations* violations);

// A validated GetGuidance request.
struct GuidanceKey {
  std::string topic_id;
  std::string locale;  // served locale, after fallback
  Personalization personalization;

  // "g|<topic>|<locale>|<personalization>": unique per body within one catalog version.
  std::string CacheKey() const;
};

// Validates (INVALID_ARGUMENT with field violations) and resolves (unknown topic: NOT_FOUND).
absl::StatusOr<GuidanceKey> PrepareGetGuidance(const Catalog& catalog,
                                               const v1::GetGuidanceRequest& request);

// The etag of the body for `key` under `version`: a stable hash of both, 16 hex digits in quotes.
std::string ComputeEtag(absl::string_view version, const GuidanceKey& key);

// Builds the served body: the stored guidance in the served locale, personalized (standing-worker
// tips first, personal notes), with version, etag, locale and codes filled in.
absl::StatusOr<v1::Guidance> RenderGuidance(const Catalog& catalog, const GuidanceKey& key);

// Prepare + etag check + render: the whole uncached GetGuidance.
absl::StatusOr<v1::GetGuidanceResponse> GetGuidance(const Catalog& catalog,
                                                    const v1::GetGuidanceRequest& request);

// A validated LookupGuidanceByCode request.
struct LookupKey {
  v1::CodeSystem system = v1::CODE_SYSTEM_UNSPECIFIED;
  std::string normalized_code;
  std::string locale;
  Personalization personalization;

  // "c|<system>|<code>|<locale>|<personalization>".
  std::string CacheKey() const;
};

// Validates the request (code system set, code well-formed, locale, context).
absl::StatusOr<LookupKey> PrepareLookup(const Catalog& catalog,
                                        const v1::LookupGuidanceByCodeRequest& request);

// The topics matching the code or one of its parents, most specific first, without duplicates.
std::vector<std::string> MatchTopics(const Catalog& catalog, const LookupKey& key);

// Builds the answer: one rendered Guidance per matching topic (empty for an unknown code).
absl::StatusOr<v1::LookupGuidanceByCodeResponse> RenderLookup(const Catalog& catalog,
                                                              const LookupKey& key);

// Prepare + render: the whole uncached LookupGuidanceByCode.
absl::StatusOr<v1::LookupGuidanceByCodeResponse> LookupGuidanceByCode(
    const Catalog& catalog, const v1::LookupGuidanceByCodeRequest& request);

// ListTopics with AIP-158 paging: page_size 0 -> 50, > 100 -> 100, negative INVALID_ARGUMENT; the
// token must come from an earlier answer for the same served locale.
absl::StatusOr<v1::ListTopicsResponse> ListTopics(const Catalog& catalog,
                                                  const v1::ListTopicsRequest& request);

// The nudge texts of the served locale.
absl::StatusOr<v1::ListNudgeTextsResponse> ListNudgeTexts(const Catalog& catalog,
                                                          const v1::ListNudgeTextsRequest& request);

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CATALOG_CONTENT_CORE_H_
