// The triage engine: from a validated AssessLegSymptomsRequest to the assessment (urgency, rules
// that fired, suspected conditions with codes, LEFt score, follow-up questions, summary). Pure: no
// I/O, no clock, no gRPC; the same request always gives the same answer.
#ifndef LEGWISE_SERVICES_TRIAGE_ENGINE_TRIAGE_ENGINE_H_
#define LEGWISE_SERVICES_TRIAGE_ENGINE_TRIAGE_ENGINE_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "legwise/triage/v1/triage.pb.h"
#include "services/triage/engine/rule_table.h"

namespace legwise::triage {

// The served language for a BCP-47 tag: Spanish for "es" and "es-*", English for everything else
// ("" included). The tag must already be well-formed (see IsWellFormedLanguageTag).
Lang ResolveLang(absl::string_view locale);
// "en" or "es".
absl::string_view LangCode(Lang lang);

// Evaluates the rule table. Thread-safe; cheap to copy (shares the table).
class TriageEngine {
 public:
  explicit TriageEngine(std::shared_ptr<const RuleTable> table) : table_(std::move(table)) {}

  // Assesses a request that passed ValidateAssessRequest. Fills everything except `guidance` and
  // `guidance_degraded` (the adapter's business). `out` is cleared first.
  //
  // Urgency = the highest level of every rule that fired. Rules only match positive findings, so an
  // added symptom or measurement never lowers it. Rules hidden by `unless_*` are left out of
  // rule_hits and suspected_conditions only; a hidden rule always has a more (or equally) urgent
  // rule reported in its place.
  void Assess(const v1::AssessLegSymptomsRequest& request,
              v1::AssessLegSymptomsResponse* out) const;

  // Convenience form of the above.
  v1::AssessLegSymptomsResponse Assess(const v1::AssessLegSymptomsRequest& request) const;

  // The rule set for GetRuleSet, descriptions in the language of `locale`.
  v1::GetRuleSetResponse DescribeRules(absl::string_view locale) const;

  const RuleTable& table() const { return *table_; }

 private:
  std::shared_ptr<const RuleTable> table_;
};

}  // namespace legwise::triage

#endif  // LEGWISE_SERVICES_TRIAGE_ENGINE_TRIAGE_ENGINE_H_
