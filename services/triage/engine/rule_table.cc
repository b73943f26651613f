#include "services/triage/engine/rule_table.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/text_format.h"
#include "services/triage/engine/builtin_rules.h"

namespace legwise::triage {
namespace {

using engine::v1::MeasurementField;
using engine::v1::Period;
using engine::v1::SideConstraint;

constexpr absl::string_view kIcd10Cm = "http://hl7.org/fhir/sid/icd-10-cm";
constexpr absl::string_view kSnomedCt = "http://snomed.info/sct";

uint8_t SideBit(v1::Side s) { return static_cast<uint8_t>(1u << static_cast<int>(s)); }

absl::StatusOr<uint8_t> SidesOf(SideConstraint c) {
  switch (c) {
    case engine::v1::SIDE_CONSTRAINT_UNSPECIFIED:
      return 0x0F;
    case engine::v1::SIDE_CONSTRAINT_ONE_LEG_OR_UNKNOWN:
      return SideBit(v1::SIDE_UNSPECIFIED) | SideBit(v1::SIDE_LEFT) | SideBit(v1::SIDE_RIGHT);
    case engine::v1::SIDE_CONSTRAINT_BOTH_LEGS:
      return SideBit(v1::SIDE_BOTH);
    case engine::v1::SIDE_CONSTRAINT_UNKNOWN:
      return SideBit(v1::SIDE_UNSPECIFIED);
    case engine::v1::SIDE_CONSTRAINT_LEFT:
      return SideBit(v1::SIDE_LEFT);
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown side constraint ", c));
  }
}

absl::Status Bad(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("rule table: ", where, ": ", what));
}

absl::StatusOr<LocalText> CompileText(const engine::v1::Text& t, absl::string_view where) {
  if (t.en().empty()) return Bad(where, "missing English text");
  if (t.es().empty()) return Bad(where, "missing Spanish text");
  LocalText out;
  out[static_cast<int>(Lang::kEn)] = t.en();
  out[static_cast<int>(Lang::kEs)] = t.es();
  return out;
}

absl::StatusOr<Requirement> CompileRequirement(const engine::v1::Requirement& r,
                                               absl::string_view where) {
  Requirement out;
  for (const auto& s : r.symptom()) {
    SymptomMatcher m;
    if (s.kind().empty()) return Bad(where, "symptom finding without a kind");
    for (int k : s.kind()) {
      if (!v1::SymptomKind_IsValid(k) || k == v1::SYMPTOM_KIND_UNSPECIFIED) {
        return Bad(where, absl::StrCat("invalid symptom kind ", k));
      }
      m.kinds.set(k);
    }
    auto sides = SidesOf(s.side());
    if (!sides.ok()) return Bad(where, sides.status().message());
    m.sides = *sides;
    m.sudden = s.sudden();
    if (s.min_severity() < 0 || s.min_severity() > 10) return Bad(where, "min_severity not 0..10");
    m.min_severity = s.min_severity();
    out.symptoms.push_back(m);
  }
  for (const auto& m : r.measurement()) {
    if (!engine::v1::MeasurementField_IsValid(m.field()) ||
        m.field() == engine::v1::MEASUREMENT_FIELD_UNSPECIFIED) {
      return Bad(where, "measurement finding without a valid field");
    }
    // An unmeasured value is 0 and must never match: thresholds must be positive.
    if (!(m.at_least() > 0)) return Bad(where, "measurement threshold must be > 0");
    out.measurements.push_back({static_cast<int>(m.field()), m.at_least()});
  }
  for (int p : r.period()) {
    if (!engine::v1::Period_IsValid(p) || p == engine::v1::PERIOD_UNSPECIFIED) {
      return Bad(where, "invalid period");
    }
    out.periods.set(p);
  }
  for (const auto& f : r.risk_factor()) {
    RiskMatcher m;
    if (f.kind().empty()) return Bad(where, "risk factor finding without a kind");
    for (int k : f.kind()) {
      if (!v1::RiskFactor_IsValid(k) || k == v1::RISK_FACTOR_UNSPECIFIED) {
        return Bad(where, absl::StrCat("invalid risk factor ", k));
      }
      m.kinds.set(k);
    }
    if (f.at_least() < 0 || static_cast<size_t>(f.at_least()) > m.kinds.count()) {
      return Bad(where, "risk factor at_least is more than the kinds listed");
    }
    m.at_least = std::max(1, f.at_least());
    out.risks.push_back(m);
  }
  if (out.symptoms.empty() && out.measurements.empty() && out.risks.empty() && out.periods.none()) {
    return Bad(where, "a `require` line without any alternative");
  }
  return out;
}

absl::StatusOr<Pattern> CompilePattern(
    const google::protobuf::RepeatedPtrField<engine::v1::Requirement>& reqs,
    absl::string_view where) {
  Pattern out;
  for (const auto& r : reqs) {
    auto c = CompileRequirement(r, where);
    if (!c.ok()) return c.status();
    out.push_back(*std::move(c));
  }
  return out;
}

bool ValidLevel(int u) { return u >= v1::URGENCY_SELF_CARE && u <= v1::URGENCY_EMERGENCY; }

bool ValidRuleId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) return false;
  }
  return true;
}

}  // namespace

PeriodSet RuleTable::PeriodsOf(const v1::PregnancyContext& pregnancy) const {
  const int g = pregnancy.gestational_age_weeks();
  const int pp = pregnancy.postpartum_weeks();
  const bool unknown = g <= 0 && pp <= 0;
  PeriodSet out;
  for (size_t p = 0; p < periods_.size(); ++p) {
    const CompiledPeriod& d = periods_[p];
    if (!d.defined) continue;
    // Both set is rejected by validation; if it ever came here, both readings count, which can only
    // add periods (and so rules).
    if ((unknown && d.context_unknown) ||
        (g > 0 && g >= d.gestational_min && g <= d.gestational_max) ||
        (pp > 0 && pp >= d.postpartum_min && pp <= d.postpartum_max)) {
      out.set(p);
    }
  }
  return out;
}

void RuleTable::BuildFacts(const v1::AssessLegSymptomsRequest& request, Facts* facts) const {
  facts->symptoms.clear();
  for (const v1::Symptom& s : request.symptoms()) {
    bool merged = false;
    for (Facts::Symptom& f : facts->symptoms) {
      if (f.kind == s.kind() && f.side == s.side() && f.site == s.site()) {
        f.severity = std::max(f.severity, s.severity());
        f.sudden = f.sudden || s.sudden_onset();
        merged = true;
        break;
      }
    }
    if (!merged) {
      facts->symptoms.push_back({s.kind(), s.side(), s.site(), s.severity(), s.sudden_onset()});
    }
  }
  const v1::Measurements& m = request.measurements();
  facts->measurements = {};
  facts->measurements[engine::v1::MEASUREMENT_FIELD_CALF_DIFFERENCE_CM] =
      m.calf_circumference_difference_cm();
  facts->measurements[engine::v1::MEASUREMENT_FIELD_SYSTOLIC_BP] =
      static_cast<float>(m.systolic_bp_mmhg());
  facts->measurements[engine::v1::MEASUREMENT_FIELD_DIASTOLIC_BP] =
      static_cast<float>(m.diastolic_bp_mmhg());
  facts->measurements[engine::v1::MEASUREMENT_FIELD_TEMPERATURE_C] = m.temperature_c();
  facts->periods = PeriodsOf(request.pregnancy());
  facts->risks.reset();
  for (int r : request.risk_factors()) {
    if (r > 0 && static_cast<size_t>(r) < facts->risks.size()) facts->risks.set(r);
  }
}

namespace {

bool Holds(const RiskMatcher& m, const Facts& facts) {
  return (m.kinds & facts.risks).count() >= static_cast<size_t>(m.at_least);
}

}  // namespace

bool Holds(const Requirement& requirement, const Facts& facts) {
  if ((requirement.periods & facts.periods).any()) return true;
  for (const MeasurementMatcher& m : requirement.measurements) {
    if (facts.measurements[m.field] >= m.at_least) return true;
  }
  for (const RiskMatcher& m : requirement.risks) {
    if (Holds(m, facts)) return true;
  }
  for (const SymptomMatcher& m : requirement.symptoms) {
    for (const Facts::Symptom& s : facts.symptoms) {
      if (m.kinds.test(s.kind) && (m.sides >> s.side & 1u) && (!m.sudden || s.sudden) &&
          s.severity >= m.min_severity) {
        return true;
      }
    }
  }
  return false;
}

bool Holds(const Pattern& pattern, const Facts& facts) {
  for (const Requirement& r : pattern) {
    if (!Holds(r, facts)) return false;
  }
  return true;
}

bool RuleTable::Fires(int index, const Facts& facts) const {
  for (const Pattern& p : rules_[index].patterns) {
    if (Holds(p, facts)) return true;
  }
  return false;
}

RiskSet RuleTable::RisksCounted(int index, const Facts& facts) const {
  RiskSet out;
  if (facts.risks.none()) return out;
  for (const Pattern& p : rules_[index].patterns) {
    if (!Holds(p, facts)) continue;
    for (const Requirement& r : p) {
      for (const RiskMatcher& m : r.risks) {
        if (Holds(m, facts)) out |= m.kinds & facts.risks;
      }
    }
  }
  return out;
}

int RuleTable::RuleIndex(absl::string_view id) const {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

const CompiledCondition* RuleTable::condition(v1::Condition c) const {
  if (c < 0 || static_cast<size_t>(c) >= conditions_.size()) return nullptr;
  const CompiledCondition& cc = conditions_[c];
  return cc.condition == v1::CONDITION_UNSPECIFIED ? nullptr : &cc;
}

const std::string& RuleTable::summary_template(v1::Urgency level, Lang lang) const {
  return summaries_[level][static_cast<int>(lang)];
}

absl::StatusOr<std::shared_ptr<const RuleTable>> RuleTable::FromText(absl::string_view text) {
  engine::v1::RuleSetDef def;
  google::protobuf::TextFormat::Parser parser;
  if (!parser.ParseFromString(std::string(text), &def)) {
    return absl::InvalidArgumentError("rule table: text format does not parse (see log)");
  }
  std::shared_ptr<RuleTable> table(new RuleTable());
  if (absl::Status s = table->Compile(def); !s.ok()) return s;
  if (absl::Status s = table->CheckCoverage(); !s.ok()) return s;
  return std::shared_ptr<const RuleTable>(std::move(table));
}

absl::StatusOr<std::shared_ptr<const RuleTable>> RuleTable::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read rules file ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  return FromText(buf.str());
}

absl::StatusOr<std::shared_ptr<const RuleTable>> RuleTable::Builtin() {
  return FromText(BuiltinRulesText());
}

absl::Status RuleTable::Compile(const engine::v1::RuleSetDef& def) {
  if (def.version().empty()) return Bad("version", "missing");
  version_ = def.version();

  // Conditions.
  conditions_.assign(v1::Condition_ARRAYSIZE, CompiledCondition{});
  for (const auto& c : def.conditions()) {
    const std::string where = absl::StrCat("condition ", v1::Condition_Name(c.condition()));
    if (!v1::Condition_IsValid(c.condition()) || c.condition() == v1::CONDITION_UNSPECIFIED) {
      return Bad(where, "invalid condition");
    }
    CompiledCondition& cc = conditions_[c.condition()];
    if (cc.condition != v1::CONDITION_UNSPECIFIED) return Bad(where, "defined twice");
    cc.condition = c.condition();
    cc.topic_id = c.topic_id();
    auto name = CompileText(c.name(), where);
    if (!name.ok()) return name.status();
    cc.name = *std::move(name);
    absl::flat_hash_map<std::string, int> choices;
    for (const auto& code : c.codes()) {
      if (code.system() != kIcd10Cm && code.system() != kSnomedCt) {
        return Bad(where, absl::StrCat("unknown code system ", code.system()));
      }
      if (code.code().empty() || code.display().empty()) return Bad(where, "code without text");
      CodeChoice choice;
      choice.coding.set_system(code.system());
      choice.coding.set_code(code.code());
      choice.coding.set_display(code.display());
      for (int p : code.period()) {
        if (!engine::v1::Period_IsValid(p) || p == engine::v1::PERIOD_UNSPECIFIED) {
          return Bad(where, "invalid period");
        }
        choice.periods.set(p);
      }
      if (!v1::Side_IsValid(code.side())) return Bad(where, "invalid side");
      choice.side = code.side();
      if (!code.choice().empty()) {
        auto [it, inserted] = choices.emplace(code.choice(), cc.num_choices);
        if (inserted) ++cc.num_choices;
        choice.choice = it->second;
      }
      cc.codes.push_back(std::move(choice));
    }
    for (int k : c.side_kinds()) {
      if (!v1::SymptomKind_IsValid(k) || k == v1::SYMPTOM_KIND_UNSPECIFIED) {
        return Bad(where, "invalid side kind");
      }
      cc.side_kinds.set(k);
    }
    if (cc.side_kinds.none() &&
        std::any_of(cc.codes.begin(), cc.codes.end(),
                    [](const CodeChoice& x) { return x.side != v1::SIDE_UNSPECIFIED; })) {
      return Bad(where, "side-specific codes need side_kinds");
    }
  }

  // Periods.
  for (const auto& p : def.periods()) {
    const std::string where = absl::StrCat("period ", engine::v1::Period_Name(p.period()));
    if (!engine::v1::Period_IsValid(p.period()) || p.period() == engine::v1::PERIOD_UNSPECIFIED) {
      return Bad(where, "invalid period");
    }
    CompiledPeriod& cp = periods_[p.period()];
    if (cp.defined) return Bad(where, "defined twice");
    cp.defined = true;
    auto range = [&](const engine::v1::WeekRange& r, int lo, int hi, int* min,
                     int* max) -> absl::Status {
      if (r.min() == 0 && r.max() == 0) return absl::OkStatus();
      if (r.min() < lo || r.max() > hi || r.min() > r.max()) {
        return Bad(where, absl::StrCat("week range must be within ", lo, "..", hi));
      }
      *min = r.min();
      *max = r.max();
      return absl::OkStatus();
    };
    if (absl::Status s =
            range(p.gestational_weeks(), 1, 45, &cp.gestational_min, &cp.gestational_max);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = range(p.postpartum_weeks(), 1, 52, &cp.postpartum_min, &cp.postpartum_max);
        !s.ok()) {
      return s;
    }
    cp.context_unknown = p.context_unknown();
    if (!cp.context_unknown && cp.gestational_max < 0 && cp.postpartum_max < 0) {
      return Bad(where, "covers no context");
    }
  }
  auto period_defined = [&](const PeriodSet& set) {
    for (size_t i = 0; i < set.size(); ++i) {
      if (set.test(i) && !periods_[i].defined) return false;
    }
    return true;
  };
  for (const CompiledCondition& cc : conditions_) {
    for (const CodeChoice& code : cc.codes) {
      if (!period_defined(code.periods)) {
        return Bad(absl::StrCat("condition ", v1::Condition_Name(cc.condition)),
                   "a code names a period that `periods` does not define");
      }
    }
  }

  // Risk factor names: every risk factor has one.
  for (const auto& n : def.risk_factor_names()) {
    const std::string where = absl::StrCat("risk factor ", v1::RiskFactor_Name(n.kind()));
    if (!v1::RiskFactor_IsValid(n.kind()) || n.kind() == v1::RISK_FACTOR_UNSPECIFIED) {
      return Bad(where, "invalid risk factor");
    }
    if (!risk_factor_names_[n.kind()][0].empty()) return Bad(where, "named twice");
    auto t = CompileText(n.name(), where);
    if (!t.ok()) return t.status();
    risk_factor_names_[n.kind()] = *std::move(t);
  }
  for (int k = v1::RiskFactor_MIN + 1; k <= v1::RiskFactor_MAX; ++k) {
    if (v1::RiskFactor_IsValid(k) && risk_factor_names_[k][0].empty()) {
      return Bad(absl::StrCat("risk factor ", v1::RiskFactor_Name(static_cast<v1::RiskFactor>(k))),
                 "has no name");
    }
  }

  if (condition(v1::CONDITION_NEEDS_ASSESSMENT) == nullptr) {
    return Bad("conditions", "CONDITION_NEEDS_ASSESSMENT must be defined (the fallback)");
  }

  // Rules: first ids, so that `unless_rules` can point forward.
  absl::flat_hash_map<std::string, int> ids;
  for (int i = 0; i < def.rules_size(); ++i) {
    const auto& r = def.rules(i);
    if (!ValidRuleId(r.id())) return Bad(absl::StrCat("rule #", i), "invalid id");
    if (!ids.emplace(r.id(), i).second) return Bad(r.id(), "duplicate rule id");
  }
  if (def.rules().empty()) return Bad("rules", "no rule");
  for (const auto& r : def.rules()) {
    const std::string& where = r.id();
    CompiledRule cr;
    cr.id = r.id();
    if (!ValidLevel(r.level())) return Bad(where, "level must be SELF_CARE..EMERGENCY");
    cr.level = r.level();
    if (r.conditions().empty()) return Bad(where, "no condition");
    for (int c : r.conditions()) {
      if (!v1::Condition_IsValid(c) || condition(static_cast<v1::Condition>(c)) == nullptr) {
        return Bad(where, absl::StrCat("condition ", c, " has no `conditions` entry"));
      }
      cr.conditions.push_back(static_cast<v1::Condition>(c));
    }
    if (r.match().empty()) return Bad(where, "no match pattern");
    for (const auto& p : r.match()) {
      if (p.require().empty()) return Bad(where, "empty pattern (it would always fire)");
      auto cp = CompilePattern(p.require(), where);
      if (!cp.ok()) return cp.status();
      for (const Requirement& req : *cp) {
        if (!period_defined(req.periods))
          return Bad(where, "a period that `periods` does not define");
      }
      cr.patterns.push_back(*std::move(cp));
    }
    if (r.unless_level_at_least() != v1::URGENCY_UNSPECIFIED) {
      // Strictly above: a rule is only hidden by a MORE urgent one, so the urgency never drops.
      if (!ValidLevel(r.unless_level_at_least()) || r.unless_level_at_least() <= r.level()) {
        return Bad(where, "unless_level_at_least must be above the rule's level");
      }
      cr.unless_level_at_least = r.unless_level_at_least();
    }
    for (const std::string& other : r.unless_rules()) {
      auto it = ids.find(other);
      if (it == ids.end()) return Bad(where, absl::StrCat("unless_rules: unknown rule ", other));
      if (other == r.id()) return Bad(where, "unless_rules names the rule itself");
      if (def.rules(it->second).level() < r.level()) {
        return Bad(where, absl::StrCat("unless_rules: ", other, " is less urgent than the rule"));
      }
      cr.unless_rules.push_back(it->second);
    }
    auto d = CompileText(r.description(), absl::StrCat(where, " description"));
    if (!d.ok()) return d.status();
    cr.description = *std::move(d);
    auto e = CompileText(r.explanation(), absl::StrCat(where, " explanation"));
    if (!e.ok()) return e.status();
    cr.explanation = *std::move(e);
    if (r.sources().empty()) return Bad(where, "no source");
    cr.sources.assign(r.sources().begin(), r.sources().end());
    rules_.push_back(std::move(cr));
  }
  // `unless_rules` must have no cycle (depth-first search, colours 0 = new, 1 = on stack, 2 =
  // done).
  std::vector<int> colour(rules_.size(), 0);
  std::function<bool(int)> cyclic = [&](int i) {
    colour[i] = 1;
    for (int j : rules_[i].unless_rules) {
      if (colour[j] == 1 || (colour[j] == 0 && cyclic(j))) return true;
    }
    colour[i] = 2;
    return false;
  };
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (colour[i] == 0 && cyclic(static_cast<int>(i))) {
      return Bad(rules_[i].id, "unless_rules form a cycle");
    }
  }

  // Follow-up questions.
  absl::flat_hash_set<std::string> fu_ids;
  for (const auto& f : def.follow_ups()) {
    const std::string where = absl::StrCat("follow-up ", f.id());
    if (f.id().empty() || !fu_ids.insert(f.id()).second)
      return Bad(where, "missing or duplicate id");
    CompiledFollowUp cf;
    cf.id = f.id();
    if (f.ask_when().empty()) return Bad(where, "no ask_when");
    for (const auto& a : f.ask_when()) {
      CompiledAskWhen ca;
      auto p = CompilePattern(a.require(), where);
      if (!p.ok()) return p.status();
      for (const Requirement& req : *p) {
        if (!period_defined(req.periods))
          return Bad(where, "a period that `periods` does not define");
      }
      ca.require = *std::move(p);
      for (const std::string& id : a.rule_fired()) {
        auto it = ids.find(id);
        if (it == ids.end()) return Bad(where, absl::StrCat("unknown rule ", id));
        ca.rule_fired.push_back(it->second);
      }
      for (const std::string& id : a.rule_not_fired()) {
        auto it = ids.find(id);
        if (it == ids.end()) return Bad(where, absl::StrCat("unknown rule ", id));
        ca.rule_not_fired.push_back(it->second);
      }
      for (int m : a.not_measured()) {
        if (!engine::v1::MeasurementField_IsValid(m) ||
            m == engine::v1::MEASUREMENT_FIELD_UNSPECIFIED) {
          return Bad(where, "invalid not_measured field");
        }
        ca.not_measured.push_back(m);
      }
      if (a.level_below() != v1::URGENCY_UNSPECIFIED && !ValidLevel(a.level_below())) {
        return Bad(where, "invalid level_below");
      }
      ca.level_below = a.level_below();
      for (int k : a.not_reported()) {
        if (!v1::SymptomKind_IsValid(k) || k == v1::SYMPTOM_KIND_UNSPECIFIED) {
          return Bad(where, "invalid not_reported kind");
        }
        ca.not_reported_kinds.set(k);
      }
      cf.ask_when.push_back(std::move(ca));
    }
    auto t = CompileText(f.text(), where);
    if (!t.ok()) return t.status();
    cf.text = *std::move(t);
    follow_ups_.push_back(std::move(cf));
  }

  // LEFt.
  {
    const auto& l = def.left_score();
    if (!v1::Condition_IsValid(l.condition()) || condition(l.condition()) == nullptr) {
      return Bad("left_score", "condition has no `conditions` entry");
    }
    left_score_.condition = l.condition();
    for (int k : l.leg_kinds()) {
      if (!v1::SymptomKind_IsValid(k) || k == v1::SYMPTOM_KIND_UNSPECIFIED) {
        return Bad("left_score", "invalid leg kind");
      }
      left_score_.leg_kinds.set(k);
    }
    if (left_score_.leg_kinds.none()) return Bad("left_score", "no leg_kinds");
    if (!(l.edema_at_least_cm() > 0)) return Bad("left_score", "edema_at_least_cm must be > 0");
    left_score_.edema_at_least_cm = l.edema_at_least_cm();
    if (!engine::v1::Period_IsValid(l.first_trimester()) ||
        !periods_[l.first_trimester()].defined ||
        l.first_trimester() == engine::v1::PERIOD_UNSPECIFIED) {
      return Bad("left_score", "first_trimester must be a defined period");
    }
    left_score_.first_trimester = l.first_trimester();
  }

  // Summaries.
  const std::pair<v1::Urgency, const engine::v1::Text*> summaries[] = {
      {v1::URGENCY_EMERGENCY, &def.summary_emergency()},
      {v1::URGENCY_URGENT, &def.summary_urgent()},
      {v1::URGENCY_ROUTINE, &def.summary_routine()},
      {v1::URGENCY_SELF_CARE, &def.summary_self_care()},
  };
  for (const auto& [level, text] : summaries) {
    const std::string where = absl::StrCat("summary for ", v1::Urgency_Name(level));
    auto t = CompileText(*text, where);
    if (!t.ok()) return t.status();
    for (const std::string& s : *t) {
      if (!absl::StrContains(s, "{condition}")) return Bad(where, "no {condition} placeholder");
    }
    summaries_[level] = *std::move(t);
    for (const CompiledCondition& c : conditions_) {
      for (int l = 0; l < kNumLangs; ++l) {
        summary_sentences_[level][c.condition][l] =
            absl::StrReplaceAll(summaries_[level][l], {{"{condition}", c.name[l]}});
      }
    }
  }
  return absl::OkStatus();
}

absl::Status RuleTable::CheckCoverage() const {
  // Every symptom kind, reported alone on any side, in any pregnancy context, must make some rule
  // fire: no report ever gets "no urgency".
  // Every week of pregnancy and after birth, and unknown.
  std::vector<v1::PregnancyContext> contexts(1);
  for (int g = 1; g <= 45; ++g) contexts.emplace_back().set_gestational_age_weeks(g);
  for (int pp = 1; pp <= 52; ++pp) contexts.emplace_back().set_postpartum_weeks(pp);
  Facts facts;
  facts.symptoms.resize(1);
  for (const v1::PregnancyContext& ctx : contexts) {
    facts.periods = PeriodsOf(ctx);
    for (int k = v1::SymptomKind_MIN + 1; k <= v1::SymptomKind_MAX; ++k) {
      if (!v1::SymptomKind_IsValid(k)) continue;
      for (int side = v1::Side_MIN; side <= v1::Side_MAX; ++side) {
        facts.symptoms[0] = {static_cast<v1::SymptomKind>(k), static_cast<v1::Side>(side),
                             v1::BODY_SITE_UNSPECIFIED, 0, false};
        bool any = false;
        for (size_t i = 0; i < rules_.size() && !any; ++i) any = Fires(static_cast<int>(i), facts);
        if (!any) {
          return Bad(v1::SymptomKind_Name(static_cast<v1::SymptomKind>(k)),
                     absl::StrCat("reported alone (side ",
                                  v1::Side_Name(static_cast<v1::Side>(side)), ") fires no rule"));
        }
      }
    }
  }
  return absl::OkStatus();
}

void RuleTable::Describe(Lang lang, v1::GetRuleSetResponse* out) const {
  out->set_version(version_);
  const int l = static_cast<int>(lang);
  for (const CompiledRule& r : rules_) {
    v1::Rule* rule = out->add_rules();
    rule->set_rule_id(r.id);
    rule->set_urgency(r.level);
    rule->set_description(r.description[l]);
    for (const std::string& s : r.sources) rule->add_sources(s);
    for (v1::Condition c : r.conditions) rule->add_conditions(c);
  }
}

}  // namespace legwise::triage
