#include "services/triage/engine/triage_engine.h"

#include <algorithm>
#include <numeric>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace legwise::triage {
namespace {

// The side a condition's own signs are on: LEFT or RIGHT when every one is on that side, BOTH when
// they are on both legs (reported as both, or some left and some right), else UNSPECIFIED (no sign,
// or a side unknown). Other symptoms (a cramp in the other leg) do not count.
v1::Side SignSide(const Facts& facts, const KindSet& kinds) {
  bool left = false, right = false, unknown = false;
  for (const Facts::Symptom& s : facts.symptoms) {
    if (!kinds.test(s.kind)) continue;
    left |= s.side == v1::SIDE_LEFT || s.side == v1::SIDE_BOTH;
    right |= s.side == v1::SIDE_RIGHT || s.side == v1::SIDE_BOTH;
    unknown |= s.side == v1::SIDE_UNSPECIFIED;
  }
  if (unknown || (!left && !right)) return v1::SIDE_UNSPECIFIED;
  if (left && right) return v1::SIDE_BOTH;
  return left ? v1::SIDE_LEFT : v1::SIDE_RIGHT;
}

template <typename Fired>
bool AskWhenHolds(const CompiledAskWhen& a, const Facts& facts, const Fired& fired,
                  v1::Urgency level) {
  if (a.level_below != v1::URGENCY_UNSPECIFIED && level >= a.level_below) return false;
  if (!a.rule_fired.empty() &&
      std::none_of(a.rule_fired.begin(), a.rule_fired.end(), [&](int i) { return fired[i]; })) {
    return false;
  }
  for (int i : a.rule_not_fired) {
    if (fired[i]) return false;
  }
  for (int m : a.not_measured) {
    if (facts.measurements[m] != 0) return false;
  }
  for (const Facts::Symptom& s : facts.symptoms) {
    if (a.not_reported_kinds.test(s.kind)) return false;
  }
  return Holds(a.require, facts);
}

}  // namespace

Lang ResolveLang(absl::string_view locale) {
  if (locale.size() >= 2 && absl::ascii_tolower(locale[0]) == 'e' &&
      absl::ascii_tolower(locale[1]) == 's' && (locale.size() == 2 || locale[2] == '-')) {
    return Lang::kEs;
  }
  return Lang::kEn;
}

absl::string_view LangCode(Lang lang) { return lang == Lang::kEs ? "es" : "en"; }

void TriageEngine::Assess(const v1::AssessLegSymptomsRequest& request,
                          v1::AssessLegSymptomsResponse* out) const {
  out->Clear();
  const RuleTable& t = *table_;
  const auto& rules = t.rules();
  const int n = static_cast<int>(rules.size());
  const Lang lang = ResolveLang(request.locale());
  const int l = static_cast<int>(lang);

  Facts facts;
  t.BuildFacts(request, &facts);

  // 1. Every rule is evaluated; the urgency is the highest level that fired.
  absl::InlinedVector<bool, 64> fired(n, false);
  v1::Urgency level = v1::URGENCY_UNSPECIFIED;
  for (int i = 0; i < n; ++i) {
    fired[i] = t.Fires(i, facts);
    if (fired[i]) level = std::max(level, rules[i].level);
  }

  // 2. Which fired rules are reported. A rule is hidden only when a rule at least as urgent fired
  // (the loader guarantees it), so the reported rules always include one at `level`.
  absl::InlinedVector<int, 64> shown;
  for (int i = 0; i < n; ++i) {
    if (!fired[i]) continue;
    const CompiledRule& r = rules[i];
    if (r.unless_level_at_least != v1::URGENCY_UNSPECIFIED && level >= r.unless_level_at_least) {
      continue;
    }
    if (std::any_of(r.unless_rules.begin(), r.unless_rules.end(),
                    [&](int j) { return fired[j]; })) {
      continue;
    }
    shown.push_back(i);
  }
  // Most urgent first; ties in table order.
  std::stable_sort(shown.begin(), shown.end(),
                   [&](int a, int b) { return rules[a].level > rules[b].level; });

  // The table's coverage check makes this unreachable for a valid request; if it ever happens, the
  // answer is "a clinician should look", never "nothing to do".
  if (level == v1::URGENCY_UNSPECIFIED) level = v1::URGENCY_ROUTINE;
  out->set_urgency(level);

  bool left_condition = false;
  for (int i : shown) {
    const CompiledRule& r = rules[i];
    v1::RuleHit* hit = out->add_rule_hits();
    hit->set_rule_id(r.id);
    hit->set_urgency(r.level);
    hit->set_explanation(r.explanation[l]);
    for (const std::string& s : r.sources) hit->add_sources(s);
    // Name the risk factors that made it fire, in the explanation too.
    if (const RiskSet risks = t.RisksCounted(i, facts); risks.any()) {
      std::string names;
      for (size_t k = 0; k < risks.size(); ++k) {
        if (!risks.test(k)) continue;
        hit->add_risk_factors(static_cast<v1::RiskFactor>(k));
        absl::StrAppend(&names, names.empty() ? "" : ", ",
                        t.risk_factor_name(static_cast<v1::RiskFactor>(k), lang));
      }
      absl::StrAppend(hit->mutable_explanation(),
                      lang == Lang::kEs ? " Cuenta: " : " Counted: ", names, ".");
    }

    for (v1::Condition c : r.conditions) {
      v1::SuspectedCondition* sc = nullptr;
      for (v1::SuspectedCondition& existing : *out->mutable_suspected_conditions()) {
        if (existing.condition() == c) {
          sc = &existing;
          break;
        }
      }
      if (sc == nullptr) {
        const CompiledCondition* cc = t.condition(c);
        sc = out->add_suspected_conditions();
        sc->set_condition(c);
        sc->set_topic_id(cc->topic_id);
        absl::InlinedVector<bool, 8> chosen(cc->num_choices, false);
        const v1::Side side = SignSide(facts, cc->side_kinds);
        for (const CodeChoice& code : cc->codes) {
          if (code.periods.any() && (code.periods & facts.periods).none()) continue;
          if (code.side != v1::SIDE_UNSPECIFIED && code.side != side) continue;
          if (code.choice >= 0) {
            if (chosen[code.choice]) continue;
            chosen[code.choice] = true;
          }
          *sc->add_codes() = code.coding;
        }
        if (c == t.left_score().condition) left_condition = true;
      }
      sc->add_rule_ids(r.id);
    }
  }
  if (out->suspected_conditions().empty()) {
    v1::SuspectedCondition* sc = out->add_suspected_conditions();
    sc->set_condition(v1::CONDITION_NEEDS_ASSESSMENT);
  }

  // 3. LEFt score, whenever its condition (DVT) is suspected. Reported only; it never changes the
  // urgency. "L" looks only at the condition's leg signs.
  if (left_condition) {
    const CompiledLeftScore& def = t.left_score();
    v1::LeftScore* left = out->mutable_left_score();
    left->set_evaluated(true);
    for (const Facts::Symptom& s : facts.symptoms) {
      if (def.leg_kinds.test(s.kind) && s.side == v1::SIDE_LEFT) left->set_left_leg(true);
    }
    left->set_edema(facts.measurements[engine::v1::MEASUREMENT_FIELD_CALF_DIFFERENCE_CM] >=
                    def.edema_at_least_cm);
    left->set_first_trimester(facts.periods.test(def.first_trimester));
    left->set_total(int{left->left_leg()} + int{left->edema()} + int{left->first_trimester()});
  }

  // 4. Follow-up questions whose answers could change the result.
  for (const CompiledFollowUp& f : t.follow_ups()) {
    for (const CompiledAskWhen& a : f.ask_when) {
      if (AskWhenHolds(a, facts, fired, level)) {
        out->add_follow_up_questions(f.text[l]);
        break;
      }
    }
  }

  // 5. Summary: the level's sentence naming the most urgent suspected condition.
  out->set_summary(t.summary(level, out->suspected_conditions(0).condition(), lang));
  out->set_rule_set_version(t.version());
  out->set_locale(std::string(LangCode(lang)));
  out->set_request_id(request.request_id());
}

v1::AssessLegSymptomsResponse TriageEngine::Assess(
    const v1::AssessLegSymptomsRequest& request) const {
  v1::AssessLegSymptomsResponse out;
  Assess(request, &out);
  return out;
}

v1::GetRuleSetResponse TriageEngine::DescribeRules(absl::string_view locale) const {
  v1::GetRuleSetResponse out;
  table_->Describe(ResolveLang(locale), &out);
  return out;
}

}  // namespace legwise::triage
