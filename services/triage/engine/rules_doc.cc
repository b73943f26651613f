#include "services/triage/engine/rules_doc.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "google/protobuf/text_format.h"
#include "services/triage/engine/rule_table.h"

namespace legwise::triage {
namespace {

using engine::v1::Period;

// "SYMPTOM_KIND_LEG_SWELLING" -> "leg swelling".
std::string Words(absl::string_view enum_name, absl::string_view prefix) {
  absl::ConsumePrefix(&enum_name, prefix);
  std::string s = absl::AsciiStrToLower(enum_name);
  absl::StrReplaceAll({{"_", " "}}, &s);
  return s;
}

std::string Kind(int k) {
  return Words(v1::SymptomKind_Name(static_cast<v1::SymptomKind>(k)), "SYMPTOM_KIND_");
}
std::string PeriodName(int p) {
  return Words(engine::v1::Period_Name(static_cast<Period>(p)), "PERIOD_");
}
std::string Risk(int r) {
  return Words(v1::RiskFactor_Name(static_cast<v1::RiskFactor>(r)), "RISK_FACTOR_");
}
std::string Level(int u) {
  return Words(v1::Urgency_Name(static_cast<v1::Urgency>(u)), "URGENCY_");
}
std::string ConditionName(int c) {
  return Words(v1::Condition_Name(static_cast<v1::Condition>(c)), "CONDITION_");
}

// A table cell: no pipes or line breaks.
std::string Cell(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}});
}

template <typename Repeated, typename F>
std::string JoinWith(const Repeated& items, absl::string_view sep, F f) {
  std::vector<std::string> parts;
  for (const auto& i : items) parts.push_back(f(i));
  return absl::StrJoin(parts, sep);
}

std::string Symptom(const engine::v1::SymptomFinding& s) {
  std::string out = JoinWith(s.kind(), " or ", [](int k) { return Kind(k); });
  switch (s.side()) {
    case engine::v1::SIDE_CONSTRAINT_ONE_LEG_OR_UNKNOWN:
      out += " (one leg, or side unknown)";
      break;
    case engine::v1::SIDE_CONSTRAINT_BOTH_LEGS:
      out += " (both legs)";
      break;
    case engine::v1::SIDE_CONSTRAINT_UNKNOWN:
      out += " (side unknown)";
      break;
    case engine::v1::SIDE_CONSTRAINT_LEFT:
      out += " (left leg)";
      break;
    default:
      break;
  }
  if (s.sudden()) out += " (sudden)";
  if (s.min_severity() > 0) absl::StrAppend(&out, " (severity >= ", s.min_severity(), ")");
  return out;
}

std::string Measurement(const engine::v1::MeasurementFinding& m) {
  switch (m.field()) {
    case engine::v1::MEASUREMENT_FIELD_CALF_DIFFERENCE_CM:
      return absl::StrCat("calf difference >= ", m.at_least(), " cm");
    case engine::v1::MEASUREMENT_FIELD_SYSTOLIC_BP:
      return absl::StrCat("systolic >= ", m.at_least());
    case engine::v1::MEASUREMENT_FIELD_DIASTOLIC_BP:
      return absl::StrCat("diastolic >= ", m.at_least());
    case engine::v1::MEASUREMENT_FIELD_TEMPERATURE_C:
      return absl::StrCat("temperature >= ", m.at_least(), " C");
    default:
      return "?";
  }
}

std::string RiskFinding(const engine::v1::RiskFactorFinding& f) {
  const std::string kinds = JoinWith(f.kind(), ", ", [](int r) { return Risk(r); });
  if (f.at_least() > 1) return absl::StrCat("at least ", f.at_least(), " of: ", kinds);
  return absl::StrCat("risk factor: ", JoinWith(f.kind(), " or ", [](int r) { return Risk(r); }));
}

// One `require` line: its alternatives joined by "or".
std::string RequirementText(const engine::v1::Requirement& r) {
  std::vector<std::string> alts;
  for (const auto& s : r.symptom()) alts.push_back(Symptom(s));
  for (const auto& m : r.measurement()) alts.push_back(Measurement(m));
  for (int p : r.period()) alts.push_back(PeriodName(p));
  for (const auto& f : r.risk_factor()) alts.push_back(RiskFinding(f));
  return absl::StrJoin(alts, " or ");
}

// The parts of a pattern joined by AND; a part with alternatives is in brackets when there are
// several parts, so "A or B AND C" never appears.
std::string PatternText(const engine::v1::Pattern& p) {
  const bool several = p.require_size() > 1;
  return JoinWith(p.require(), " AND ", [several](const auto& r) {
    std::string part = RequirementText(r);
    return several && absl::StrContains(part, " or ") ? absl::StrCat("(", part, ")") : part;
  });
}

std::string Weeks(const engine::v1::WeekRange& r) {
  if (r.min() == 0 && r.max() == 0) return "-";
  return absl::StrCat(r.min(), "..", r.max());
}

}  // namespace

absl::StatusOr<std::string> RenderRulesDoc(absl::string_view rules_text) {
  // The table must load (every safety check passes) before it is documented.
  if (auto table = RuleTable::FromText(rules_text); !table.ok()) return table.status();
  engine::v1::RuleSetDef def;
  if (!google::protobuf::TextFormat::ParseFromString(std::string(rules_text), &def)) {
    return absl::InvalidArgumentError("rule table: text format does not parse");
  }

  std::string o;
  absl::StrAppend(&o, "# legwise triage rules, version ", def.version(), "\n\n");
  absl::StrAppend(
      &o,
      "Generated from `services/triage/engine/rules/rules.textproto` by `legwise-rules-doc` (do "
      "not "
      "edit by hand: `build/release/bin/legwise-rules-doc > docs/clinical-rules.md`). A test fails "
      "when this document and the rule table differ, so what is signed off here is what runs.\n\n",
      "How to read: every rule is evaluated; a rule fires when ANY of its patterns holds; a "
      "pattern "
      "holds when ALL of its parts (AND) hold; a part holds when ANY of its alternatives (or) "
      "holds. "
      "The answer's urgency is the highest level of every rule that fired. Patterns hold only "
      "positive findings, so adding a symptom, a measurement or a risk factor never lowers the "
      "urgency. \"Hidden by\" only keeps a rule out of the report when a rule at least as urgent "
      "fired; it never changes the urgency. A side not given counts as one leg; unknown weeks "
      "count as inside the pre-eclampsia window.\n\n",
      "Clinical sign-off: reviewed by ____________________ (name, role), date __________.\n\n");

  absl::StrAppend(
      &o, "## Rules\n\n",
      "| rule | level | when it fires | exact pattern | hidden by | conditions | sources |\n",
      "| --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& r : def.rules()) {
    std::vector<std::string> hidden;
    if (r.unless_level_at_least() != v1::URGENCY_UNSPECIFIED) {
      hidden.push_back(absl::StrCat("any ", Level(r.unless_level_at_least()), " rule"));
    }
    for (const std::string& u : r.unless_rules()) hidden.push_back(absl::StrCat("`", u, "`"));
    absl::StrAppend(
        &o, "| `", r.id(), "` | ", Level(r.level()), " | ", Cell(r.description().en()), " | ",
        Cell(JoinWith(r.match(), " **OR** ", [](const auto& p) { return PatternText(p); })), " | ",
        hidden.empty() ? "-" : absl::StrJoin(hidden, ", "), " | ",
        JoinWith(r.conditions(), ", ", [](int c) { return ConditionName(c); }), " | ",
        Cell(absl::StrJoin(r.sources(), "; ")), " |\n");
  }

  absl::StrAppend(&o, "\n## Pregnancy periods (completed weeks)\n\n",
                  "| period | weeks pregnant | weeks after birth | weeks unknown |\n",
                  "| --- | --- | --- | --- |\n");
  for (const auto& p : def.periods()) {
    absl::StrAppend(&o, "| ", PeriodName(p.period()), " | ", Weeks(p.gestational_weeks()), " | ",
                    Weeks(p.postpartum_weeks()), " | ", p.context_unknown() ? "yes" : "-", " |\n");
  }

  absl::StrAppend(&o, "\n## Conditions and codes\n\n",
                  "Codes sharing a choice are alternatives: the first whose period and side fit is "
                  "given. The side is that of the condition's own signs.\n\n",
                  "| condition | guidance topic | side from | code | display | periods | side | "
                  "choice |\n",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& c : def.conditions()) {
    const std::string side_from =
        c.side_kinds().empty() ? "-"
                               : JoinWith(c.side_kinds(), ", ", [](int k) { return Kind(k); });
    if (c.codes().empty()) {
      absl::StrAppend(&o, "| ", ConditionName(c.condition()), " | ", c.topic_id(), " | ", side_from,
                      " | (none: not a diagnosis) | | | | |\n");
    }
    for (const auto& code : c.codes()) {
      const std::string system =
          absl::StrContains(code.system(), "snomed") ? "SNOMED CT" : "ICD-10-CM";
      absl::StrAppend(
          &o, "| ", ConditionName(c.condition()), " | ", c.topic_id(), " | ", side_from, " | ",
          system, " ", code.code(), " | ", Cell(code.display()), " | ",
          code.period().empty()
              ? "any"
              : JoinWith(code.period(), ", ", [](int p) { return PeriodName(p); }),
          " | ",
          code.side() == v1::SIDE_UNSPECIFIED ? "any" : Words(v1::Side_Name(code.side()), "SIDE_"),
          " | ", code.choice().empty() ? "-" : code.choice(), " |\n");
    }
  }

  const auto& l = def.left_score();
  absl::StrAppend(&o, "\n## LEFt score (reported, never lowers a level)\n\n", "Evaluated when ",
                  ConditionName(l.condition()), " is suspected. L: a ",
                  JoinWith(l.leg_kinds(), ", ", [](int k) { return Kind(k); }),
                  " in the left leg. E: calf difference >= ", l.edema_at_least_cm(),
                  " cm. Ft: ", PeriodName(l.first_trimester()), ".\n");

  absl::StrAppend(&o, "\n## Risk factors (RCOG Green-top Guideline 37a)\n\n",
                  "| risk factor | name (en) | name (es) |\n| --- | --- | --- |\n");
  for (const auto& n : def.risk_factor_names()) {
    absl::StrAppend(&o, "| ", Risk(n.kind()), " | ", Cell(n.name().en()), " | ",
                    Cell(n.name().es()), " |\n");
  }

  absl::StrAppend(&o, "\n## Follow-up questions (asked in this order)\n\n",
                  "| id | question (en) |\n| --- | --- |\n");
  for (const auto& f : def.follow_ups()) {
    absl::StrAppend(&o, "| `", f.id(), "` | ", Cell(f.text().en()), " |\n");
  }
  return o;
}

}  // namespace legwise::triage
