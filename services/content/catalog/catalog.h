// The guidance catalog: topic files (legwise.content.v1.Guidance in protobuf text format, one per
// topic and locale) plus the index (codes, personal notes, standing-worker tips, nudge texts).
// Loaded once, checked, then shared read-only; a reload builds a new Catalog and swaps the pointer.
#ifndef LEGWISE_SERVICES_CONTENT_CATALOG_CATALOG_H_
#define LEGWISE_SERVICES_CONTENT_CATALOG_CATALOG_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "legwise/content/v1/content.pb.h"
#include "services/content/catalog/catalog_index.pb.h"

namespace legwise::content {

// The index file's path inside the catalog.
inline constexpr absl::string_view kIndexPath = "index.textproto";

// Catalog files by path relative to the data directory ("index.textproto",
// "es/leg-cramps.textproto") -> text.
using CatalogFiles = std::map<std::string, std::string>;

// The files compiled into the binary.
CatalogFiles EmbeddedCatalogFileMap();

// Reads every *.textproto under `dir` (one level of locale folders). Used by --catalog_dir and
// reload.
absl::StatusOr<CatalogFiles> ReadCatalogDir(const std::string& dir);

// A parsed catalog. Immutable once built.
class Catalog {
 public:
  // Parses the files (a syntax error or an unexpected path fails) WITHOUT the content checks; tests
  // use it with Problems() to prove the checks catch broken data.
  static absl::StatusOr<std::unique_ptr<Catalog>> Parse(const CatalogFiles& files);

  // Parse() then Problems(): fails with FAILED_PRECONDITION listing the problems when there are
  // any. This is what the server loads; a broken catalog never replaces a working one.
  static absl::StatusOr<std::shared_ptr<const Catalog>> Load(const CatalogFiles& files);

  // Every content problem found: missing topic or locale, tip ids that differ across locales,
  // malformed or dangling codes, empty sections, missing sources, missing nudge texts or notes...
  // Empty means the catalog is servable.
  std::vector<std::string> Problems() const;

  // "<release>-<12 hex of a hash of every file>": changes whenever any file changes.
  const std::string& version() const { return version_; }
  const internal::CatalogIndex& index() const { return index_; }
  // Complete locales, the fallback first.
  const std::vector<std::string>& locales() const { return locales_; }
  // Topic ids in listing order.
  const std::vector<std::string>& topic_ids() const { return topic_ids_; }

  // The stored (unpersonalized) guidance, or nullptr.
  const v1::Guidance* Find(absl::string_view topic_id, absl::string_view locale) const;
  // True when the topic is in the index.
  bool HasTopic(absl::string_view topic_id) const;
  // Topics for one exact normalized code (no parent walk), most relevant first.
  const std::vector<std::string>* TopicsForCode(v1::CodeSystem system,
                                                absl::string_view normalized_code) const;
  // The codes a topic answers to, as "ICD10CM:R25.2".
  std::vector<std::string> CodesForTopic(absl::string_view topic_id) const;
  // The nudge texts of a locale, or nullptr.
  const internal::NudgeTextSet* NudgeTexts(absl::string_view locale) const;

 private:
  Catalog() = default;

  std::string version_;
  internal::CatalogIndex index_;
  std::vector<std::string> locales_;
  std::vector<std::string> topic_ids_;
  // locale -> topic id -> guidance.
  std::map<std::string, std::map<std::string, v1::Guidance>, std::less<>> topics_;
  // "ICD10CM:R25.2" -> topic ids.
  absl::flat_hash_map<std::string, std::vector<std::string>> codes_;
  // Files whose path is not index.textproto or <locale>/<topic>.textproto for an indexed pair.
  std::vector<std::string> stray_files_;
};

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CATALOG_CATALOG_H_
