// Checks triage requests before the engine sees them (api-contract.md "Bad input"). Every problem
// becomes one field violation with an AIP-193 path ("symptoms[2].severity"); descriptions never
// echo the value, which may be health data.
#ifndef LEGWISE_SERVICES_TRIAGE_ENGINE_REQUEST_VALIDATION_H_
#define LEGWISE_SERVICES_TRIAGE_ENGINE_REQUEST_VALIDATION_H_

#include "absl/strings/string_view.h"
#include "legwise/triage/v1/triage.pb.h"
#include "services/common/validation.h"

namespace legwise::triage {

// At most this many symptoms in one request (the engine's cost is bounded by it).
inline constexpr int kMaxSymptoms = 32;
// At most this many risk factors per request (more than there are kinds; a repeat counts once).
inline constexpr int kMaxRiskFactors = 16;
// At most this many characters in request_id.
inline constexpr int kMaxRequestIdLength = 128;
// At most this many characters in a locale tag.
inline constexpr int kMaxLocaleLength = 35;

// True when `tag` is a well-formed BCP-47 language tag of at most kMaxLocaleLength characters
// (RFC 5646 syntax: a 2-3 or 5-8 letter language, then subtags of 1-8 letters or digits, a
// singleton always followed by a subtag). "" is not a tag (callers treat "" as "en" before asking).
bool IsWellFormedLanguageTag(absl::string_view tag);

// Every problem with an AssessLegSymptomsRequest: no symptoms or more than kMaxSymptoms, a kind
// that is unspecified or not a known enum number, an unknown side or site number, a severity
// outside 0..10, pregnancy weeks out of range or both set, measurements out of range (or NaN), a
// diastolic at or above the systolic (both fields named), more than kMaxRiskFactors risk factors or
// an unspecified or unknown one, a request_id too long or not printable ASCII, a malformed locale.
// Empty when the request is valid.
FieldViolations ValidateAssessRequest(const v1::AssessLegSymptomsRequest& request);

// Every problem with a GetRuleSetRequest (a malformed locale).
FieldViolations ValidateGetRuleSetRequest(const v1::GetRuleSetRequest& request);

}  // namespace legwise::triage

#endif  // LEGWISE_SERVICES_TRIAGE_ENGINE_REQUEST_VALIDATION_H_
