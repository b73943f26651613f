// From a CDS Hooks prefetch of FHIR R4 resources to an AssessLegSymptomsRequest, through the
// reviewable table in fhir_mapping.tsv. Everything the mapping could not use is reported (missing
// prefetch, missing vital signs or pregnancy data, unmapped findings, implausible values), so the
// card can say it: nothing is guessed.
#ifndef LEGWISE_SERVICES_GATEWAY_CDS_FHIR_MAPPING_H_
#define LEGWISE_SERVICES_GATEWAY_CDS_FHIR_MAPPING_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "legwise/triage/v1/triage.pb.h"

namespace legwise::gateway {

// The embedded fhir_mapping.tsv.
absl::string_view BuiltinFhirMappingText();

struct FindingMapping {
  std::string display;
  std::vector<triage::v1::SymptomKind> kinds;
  bool needs_leg_site = false;
  bool read_as_sudden = false;
};
struct SiteMapping {
  triage::v1::BodySite site = triage::v1::BODY_SITE_UNSPECIFIED;
  triage::v1::Side side = triage::v1::SIDE_UNSPECIFIED;
};

class FhirMappingTable {
 public:
  // Parses the table; INVALID_ARGUMENT naming the line on any malformed row or unknown enum name.
  static absl::StatusOr<FhirMappingTable> Parse(absl::string_view text);
  const FindingMapping* Finding(const std::string& code) const;
  const SiteMapping* Site(const std::string& code) const;
  const triage::v1::Side* Laterality(const std::string& code) const;
  size_t finding_count() const { return findings_.size(); }

 private:
  absl::flat_hash_map<std::string, FindingMapping> findings_;
  absl::flat_hash_map<std::string, SiteMapping> sites_;
  absl::flat_hash_map<std::string, triage::v1::Side> lateralities_;
};

struct MappedPrefetch {
  triage::v1::AssessLegSymptomsRequest request;
  // Plain-English statements for the card, e.g. "No blood pressure in the observations prefetch."
  std::vector<std::string> missing;
  // Conditions present but not mapped, as "display (SNOMED CT code)".
  std::vector<std::string> unmapped;
  // How data was read, e.g. "Dyspnea read as sudden onset: the record does not say."
  std::vector<std::string> notes;
  bool has_conditions_prefetch = false;
};

// Maps the prefetch object (keys "patient", "observations", "conditions") at `now`. Never fails:
// malformed resources are reported in `missing`/`notes`.
MappedPrefetch MapPrefetch(const google::protobuf::Struct& prefetch, const FhirMappingTable& table,
                           absl::Time now);

}  // namespace legwise::gateway

#endif  // LEGWISE_SERVICES_GATEWAY_CDS_FHIR_MAPPING_H_
