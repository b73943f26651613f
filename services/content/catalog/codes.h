// Diagnosis-code normalization for LookupGuidanceByCode: how an EHR's ICD-10-CM or SNOMED CT code
// becomes the key of the catalog's code table, and which parent codes also match.
#ifndef LEGWISE_SERVICES_CONTENT_CATALOG_CODES_H_
#define LEGWISE_SERVICES_CONTENT_CATALOG_CODES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "legwise/content/v1/content.pb.h"

namespace legwise::content {

// Normalizes `code` in `system`. ICD-10-CM: surrounding spaces dropped, upper-cased, the dot put
// after the third character ("r252" and "R25.2" -> "R25.2"; "o2233" -> "O22.33"); the shape must be
// letter, digit, alphanumeric, then up to four alphanumerics. SNOMED CT: 6 to 18 digits without a
// leading zero. Anything else (including CODE_SYSTEM_UNSPECIFIED) is INVALID_ARGUMENT; the message
// never echoes the code.
absl::StatusOr<std::string> NormalizeCode(v1::CodeSystem system, absl::string_view code);

// The normalized code followed by its parents, most specific first: "O22.33" -> {"O22.33", "O22.3",
// "O22"}. SNOMED CT identifiers carry no hierarchy: just the code itself.
std::vector<std::string> CodeAndParents(v1::CodeSystem system, absl::string_view normalized_code);

// The short system name used in Guidance.codes and cache keys: "ICD10CM" or "SNOMEDCT".
absl::string_view CodeSystemName(v1::CodeSystem system);

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CATALOG_CODES_H_
