// The triage rule table: parsed from text format (rules/rules.textproto), checked for safety, and
// compiled into a form the engine evaluates quickly. Immutable once built; share it freely between
// threads.
#ifndef LEGWISE_SERVICES_TRIAGE_ENGINE_RULE_TABLE_H_
#define LEGWISE_SERVICES_TRIAGE_ENGINE_RULE_TABLE_H_

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "legwise/triage/v1/triage.pb.h"
#include "services/triage/engine/rule_set.pb.h"

namespace legwise::triage {

// The served languages. Every text in the table exists in each.
enum class Lang { kEn = 0, kEs = 1 };
inline constexpr int kNumLangs = 2;

// A text in every served language.
using LocalText = std::array<std::string, kNumLangs>;

// Sets of symptom kinds, risk factors and pregnancy periods, sized by their enums (so a new enum
// value needs no code change here).
using KindSet = std::bitset<v1::SymptomKind_ARRAYSIZE>;
using RiskSet = std::bitset<v1::RiskFactor_ARRAYSIZE>;
using PeriodSet = std::bitset<engine::v1::Period_ARRAYSIZE>;

// One symptom alternative, compiled: a symptom matches when its kind is in `kinds`, its side bit in
// `sides`, it is sudden if `sudden` is required and its severity is at least `min_severity`.
struct SymptomMatcher {
  KindSet kinds;
  uint8_t sides = 0;
  bool sudden = false;
  int32_t min_severity = 0;
};

// One measurement alternative, compiled (index into a Facts::measurements array).
struct MeasurementMatcher {
  int field = 0;
  float at_least = 0;
};

// One risk-factor alternative: at least `at_least` of `kinds` are present.
struct RiskMatcher {
  RiskSet kinds;
  int at_least = 1;
};

// One requirement: holds when ANY alternative holds.
struct Requirement {
  std::vector<SymptomMatcher> symptoms;
  std::vector<MeasurementMatcher> measurements;
  std::vector<RiskMatcher> risks;
  PeriodSet periods;
};

// One pattern (a combination of findings): holds when ALL requirements hold.
using Pattern = std::vector<Requirement>;

// A code that may be given for a condition.
struct CodeChoice {
  v1::Coding coding;
  PeriodSet periods;                     // none = any period
  v1::Side side = v1::SIDE_UNSPECIFIED;  // UNSPECIFIED = any side
  int choice = -1;                       // index of the choice group, -1 = none
};

// A compiled rule.
struct CompiledRule {
  std::string id;
  v1::Urgency level = v1::URGENCY_UNSPECIFIED;
  std::vector<v1::Condition> conditions;
  std::vector<Pattern> patterns;  // fires when ANY holds
  v1::Urgency unless_level_at_least = v1::URGENCY_UNSPECIFIED;
  std::vector<int> unless_rules;  // indices into RuleTable::rules()
  LocalText description;
  LocalText explanation;
  std::vector<std::string> sources;
};

// A compiled condition.
struct CompiledCondition {
  v1::Condition condition = v1::CONDITION_UNSPECIFIED;
  std::string topic_id;
  LocalText name;
  std::vector<CodeChoice> codes;
  int num_choices = 0;
  KindSet side_kinds;  // the condition's own signs, whose side chooses side-specific codes
};

// A compiled period: which pregnancy contexts it covers.
struct CompiledPeriod {
  bool defined = false;
  int gestational_min = 0, gestational_max = -1;  // empty when max < min
  int postpartum_min = 0, postpartum_max = -1;
  bool context_unknown = false;
};

// The compiled LEFt score definition.
struct CompiledLeftScore {
  v1::Condition condition = v1::CONDITION_UNSPECIFIED;
  KindSet leg_kinds;
  float edema_at_least_cm = 0;
  engine::v1::Period first_trimester = engine::v1::PERIOD_UNSPECIFIED;
};

// A compiled follow-up trigger: ALL set parts must hold.
struct CompiledAskWhen {
  Pattern require;
  std::vector<int> rule_fired;      // any of
  std::vector<int> rule_not_fired;  // none of
  std::vector<int> not_measured;    // Facts::measurements indices, all unmeasured
  v1::Urgency level_below = v1::URGENCY_UNSPECIFIED;
  KindSet not_reported_kinds;
};

// A compiled follow-up question.
struct CompiledFollowUp {
  std::string id;
  std::vector<CompiledAskWhen> ask_when;  // any
  LocalText text;
};

// The facts a request offers to the matchers, after duplicate symptoms are merged.
struct Facts {
  struct Symptom {
    v1::SymptomKind kind;
    v1::Side side;
    v1::BodySite site;
    int32_t severity;
    bool sudden;
  };
  absl::InlinedVector<Symptom, 16> symptoms;
  // Indexed by engine::v1::MeasurementField; 0 = not measured.
  std::array<float, 5> measurements{};
  PeriodSet periods;
  RiskSet risks;
};

// True when the requirement / pattern holds for `facts`.
bool Holds(const Requirement& requirement, const Facts& facts);
bool Holds(const Pattern& pattern, const Facts& facts);

// The loaded, checked and compiled rule table.
class RuleTable {
 public:
  // Parses and checks a table in text format. Fails with INVALID_ARGUMENT naming the problem when
  // the text does not parse or breaks a safety property: a rule without a pattern, a condition or a
  // source; a missing translation; an `unless_level_at_least` not above the rule's level; an
  // `unless_rules` target less urgent than the rule or a cycle of them; an unknown rule id; a
  // period used but not defined; a risk factor without a name; a symptom kind that, reported alone
  // on some side in some pregnancy context, fires no rule.
  static absl::StatusOr<std::shared_ptr<const RuleTable>> FromText(absl::string_view text);
  // Reads `path` and calls FromText.
  static absl::StatusOr<std::shared_ptr<const RuleTable>> FromFile(const std::string& path);
  // The table embedded in the binary at build time.
  static absl::StatusOr<std::shared_ptr<const RuleTable>> Builtin();

  // The pregnancy periods that hold for a context, from the table's period definitions.
  PeriodSet PeriodsOf(const v1::PregnancyContext& pregnancy) const;
  // Builds the facts from a (validated) request: merges symptoms with the same kind, side and site
  // (highest severity; sudden if either was) and keeps them in first-seen order.
  void BuildFacts(const v1::AssessLegSymptomsRequest& request, Facts* facts) const;

  // The version string of the table ("2026.12.1").
  const std::string& version() const { return version_; }
  const std::vector<CompiledRule>& rules() const { return rules_; }
  const std::vector<CompiledFollowUp>& follow_ups() const { return follow_ups_; }
  // The condition's entry; never null for a condition a rule names.
  const CompiledCondition* condition(v1::Condition c) const;
  // The summary template for `level` in `lang`, with "{condition}" to be replaced.
  const std::string& summary_template(v1::Urgency level, Lang lang) const;
  // The summary sentence for `level` naming `condition`, in `lang` (precomputed at load time).
  const std::string& summary(v1::Urgency level, v1::Condition condition, Lang lang) const {
    return summary_sentences_[level][condition][static_cast<int>(lang)];
  }
  // The LEFt score definition.
  const CompiledLeftScore& left_score() const { return left_score_; }
  // The name of a risk factor in `lang` ("" for one without a name).
  const std::string& risk_factor_name(v1::RiskFactor r, Lang lang) const {
    return risk_factor_names_[r][static_cast<int>(lang)];
  }
  // Index of a rule by id, -1 when absent.
  int RuleIndex(absl::string_view id) const;

  // True when rule `index` fires for `facts`.
  bool Fires(int index, const Facts& facts) const;
  // The risk factors that made rule `index` fire: those present in a risk-factor finding of a
  // pattern that holds.
  RiskSet RisksCounted(int index, const Facts& facts) const;

  // The public view of the table for GetRuleSet, texts in `lang`.
  void Describe(Lang lang, v1::GetRuleSetResponse* out) const;

 private:
  RuleTable() = default;
  absl::Status Compile(const engine::v1::RuleSetDef& def);
  absl::Status CheckCoverage() const;

  std::string version_;
  std::vector<CompiledRule> rules_;
  std::vector<CompiledCondition> conditions_;  // indexed by v1::Condition value
  std::vector<CompiledFollowUp> follow_ups_;
  std::array<CompiledPeriod, engine::v1::Period_ARRAYSIZE> periods_;
  CompiledLeftScore left_score_;
  std::array<LocalText, v1::RiskFactor_ARRAYSIZE> risk_factor_names_;
  std::array<std::array<std::string, kNumLangs>, 5> summaries_;  // by Urgency value
  // [Urgency][Condition][Lang]
  std::array<std::array<LocalText, v1::Condition_ARRAYSIZE>, 5> summary_sentences_;
};

}  // namespace legwise::triage

#endif  // LEGWISE_SERVICES_TRIAGE_ENGINE_RULE_TABLE_H_
