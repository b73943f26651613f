// The clinician-facing rule document (docs/clinical-rules.md), generated from the rule table so
// that what a clinician reads and signs off is exactly what the engine runs. A test checks that the
// checked-in document matches the table; `legwise-rules-doc` regenerates it.
#ifndef LEGWISE_SERVICES_TRIAGE_ENGINE_RULES_DOC_H_
#define LEGWISE_SERVICES_TRIAGE_ENGINE_RULES_DOC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace legwise::triage {

// Renders the rule table in text format (rules/rules.textproto) as Markdown: every rule (id, level,
// when it fires in words and as the exact pattern, what hides it from the report, conditions,
// sources), the pregnancy periods, conditions with their codes, the LEFt score, risk factors and
// follow-up questions. Fails when the text does not load as a rule table.
absl::StatusOr<std::string> RenderRulesDoc(absl::string_view rules_text);

}  // namespace legwise::triage

#endif  // LEGWISE_SERVICES_TRIAGE_ENGINE_RULES_DOC_H_
