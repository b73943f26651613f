// Clinical vignettes (tests/triage/data/vignettes.txt): each a person's report with the urgency and
// the suspected conditions a clinician expects from the published guidance named on its line
// (clinical-knowledge.md). Together they make every rule fire and cover every level, each boundary
// of the table (blood pressure, temperature, calf difference, pregnancy and postpartum weeks), risk
// factors, and the cases that must not be over-triaged.
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "legwise/triage/v1/triage.pb.h"
#include "services/triage/engine/request_validation.h"
#include "services/triage/engine/triage_engine.h"
#include "tests/triage/test_util.h"

namespace legwise::triage {
namespace {

using testing::AddSymptoms;
using testing::CodePoints;
using testing::ParseContext;
using testing::ParseExtras;
using v1::Condition;
using v1::Urgency;

// One vignette, parsed from a line of the data file.
struct Vignette {
  int line = 0;
  std::string text;  // description [source]
  v1::AssessLegSymptomsRequest request;
  Urgency level = v1::URGENCY_UNSPECIFIED;
  bool check_conditions = true;
  std::set<Condition> conditions;
  std::vector<std::string> rules;  // must all be among the reported rule hits
};

Condition ConditionFromShortName(absl::string_view s) {
  static const std::pair<absl::string_view, Condition> kNames[] = {
      {"cramps", v1::CONDITION_LEG_CRAMPS},
      {"rls", v1::CONDITION_RESTLESS_LEGS_SYNDROME},
      {"dvt", v1::CONDITION_DEEP_VEIN_THROMBOSIS},
      {"pe", v1::CONDITION_PULMONARY_EMBOLISM},
      {"pree", v1::CONDITION_PRE_ECLAMPSIA},
      {"cell", v1::CONDITION_CELLULITIS},
      {"stp", v1::CONDITION_SUPERFICIAL_THROMBOPHLEBITIS},
      {"isch", v1::CONDITION_ACUTE_LIMB_ISCHAEMIA},
      {"oedema", v1::CONDITION_PREGNANCY_OEDEMA},
      {"assess", v1::CONDITION_NEEDS_ASSESSMENT},
      {"hbp", v1::CONDITION_HIGH_BLOOD_PRESSURE},
      {"ms", v1::CONDITION_MORNING_SICKNESS},
  };
  for (const auto& [n, c] : kNames) {
    if (n == s) return c;
  }
  ADD_FAILURE() << "unknown condition short name " << s;
  return v1::CONDITION_UNSPECIFIED;
}

std::vector<Vignette> LoadVignettes() {
  std::ifstream in(LEGWISE_VIGNETTES_FILE);
  EXPECT_TRUE(in.good()) << LEGWISE_VIGNETTES_FILE;
  std::vector<Vignette> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::vector<std::string> f = testing::DataFields(line);
    if (f.empty()) continue;
    if (f.size() != 7) {
      ADD_FAILURE() << "line " << n << ": expected 7 fields, got " << f.size();
      continue;
    }
    Vignette v;
    v.line = n;
    v.level = testing::LevelFromLetter(f[0]);
    AddSymptoms(f[1], &v.request);
    ParseContext(f[2], v.request.mutable_pregnancy());
    ParseExtras(f[3], &v.request);
    if (f[4] == "*") {
      v.check_conditions = false;
    } else {
      for (absl::string_view c : absl::StrSplit(f[4], ',')) {
        v.conditions.insert(ConditionFromShortName(c));
      }
    }
    if (f[5] != "-") v.rules = absl::StrSplit(f[5], ',');
    v.text = f[6];
    out.push_back(std::move(v));
  }
  return out;
}

class VignetteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto table = RuleTable::Builtin();
    ASSERT_TRUE(table.ok()) << table.status();
    engine_ = new TriageEngine(*table);
    vignettes_ = new std::vector<Vignette>(LoadVignettes());
  }
  static v1::AssessLegSymptomsRequest Request(const Vignette& v, absl::string_view locale) {
    v1::AssessLegSymptomsRequest r = v.request;
    r.set_locale(std::string(locale));
    return r;
  }
  static std::string Where(const Vignette& v) {
    return absl::StrCat("vignettes.txt:", v.line, ": ", v.text);
  }
  static TriageEngine* engine_;
  static std::vector<Vignette>* vignettes_;
};
TriageEngine* VignetteTest::engine_ = nullptr;
std::vector<Vignette>* VignetteTest::vignettes_ = nullptr;

TEST_F(VignetteTest, EachVignetteGetsTheExpectedLevelAndConditions) {
  int under = 0, over = 0;
  for (const Vignette& v : *vignettes_) {
    SCOPED_TRACE(Where(v));
    ASSERT_TRUE(ValidateAssessRequest(v.request).empty()) << v.request.DebugString();
    const v1::AssessLegSymptomsResponse r = engine_->Assess(v.request);
    EXPECT_EQ(r.urgency(), v.level) << v1::Urgency_Name(r.urgency());
    under += r.urgency() < v.level;
    over += r.urgency() > v.level;
    std::set<Condition> got;
    for (const auto& c : r.suspected_conditions()) got.insert(c.condition());
    if (v.check_conditions) EXPECT_EQ(got, v.conditions) << r.DebugString();
    absl::flat_hash_set<std::string> hits;
    for (const auto& h : r.rule_hits()) hits.insert(h.rule_id());
    for (const std::string& id : v.rules) EXPECT_TRUE(hits.contains(id)) << id;
    // The first hit is the one that sets the level; none is above it.
    ASSERT_FALSE(r.rule_hits().empty());
    EXPECT_EQ(r.rule_hits(0).urgency(), r.urgency());
    for (const auto& h : r.rule_hits()) {
      EXPECT_LE(h.urgency(), r.urgency());
      EXPECT_FALSE(h.explanation().empty());
      EXPECT_FALSE(h.sources().empty());
      // A risk factor is only named where the request had it.
      for (int rf : h.risk_factors()) {
        EXPECT_NE(std::find(v.request.risk_factors().begin(), v.request.risk_factors().end(), rf),
                  v.request.risk_factors().end());
      }
    }
    EXPECT_EQ(r.rule_set_version(), engine_->table().version());
    // LEFt whenever DVT is suspected, and only then.
    EXPECT_EQ(r.left_score().evaluated(), got.contains(v1::CONDITION_DEEP_VEIN_THROMBOSIS));
  }
  EXPECT_EQ(under, 0) << "under-triaged vignettes";
  EXPECT_EQ(over, 0) << "over-triaged vignettes";
}

TEST_F(VignetteTest, EveryVignetteNamesItsSource) {
  for (const Vignette& v : *vignettes_) {
    SCOPED_TRACE(Where(v));
    const size_t open = v.text.rfind('[');
    ASSERT_NE(open, std::string::npos) << "no [source]";
    EXPECT_TRUE(absl::EndsWith(v.text, "]"));
    EXPECT_GT(v.text.size() - open, 4u) << "empty source";
    EXPECT_GT(open, 8u) << "no description";
  }
}

TEST_F(VignetteTest, SummaryIsOneShortSentenceInEnglishAndSpanish) {
  for (const Vignette& v : *vignettes_) {
    SCOPED_TRACE(Where(v));
    for (absl::string_view locale : {"en", "es", "es-MX", "fr", ""}) {
      const v1::AssessLegSymptomsResponse r = engine_->Assess(Request(v, locale));
      EXPECT_LT(CodePoints(r.summary()), 140u) << r.summary();
      EXPECT_GT(CodePoints(r.summary()), 20u) << r.summary();
      EXPECT_EQ(r.summary().find("{condition}"), std::string::npos);
      EXPECT_EQ(r.summary().back(), '.');
      EXPECT_EQ(r.locale(), ResolveLang(locale) == Lang::kEs ? "es" : "en");
    }
    const auto en = engine_->Assess(Request(v, "en"));
    const auto es = engine_->Assess(Request(v, "es"));
    EXPECT_NE(en.summary(), es.summary());
    EXPECT_EQ(en.urgency(), es.urgency());  // language never changes the answer
    ASSERT_EQ(en.rule_hits_size(), es.rule_hits_size());
    for (int i = 0; i < en.rule_hits_size(); ++i) {
      EXPECT_NE(en.rule_hits(i).explanation(), es.rule_hits(i).explanation());
    }
    // URGENT says "now", as the seed says "immediately"; never "today".
    if (en.urgency() == v1::URGENCY_URGENT) {
      EXPECT_TRUE(absl::StrContains(en.summary(), " now")) << en.summary();
      EXPECT_TRUE(absl::StrContains(es.summary(), "ahora")) << es.summary();
    }
    for (const auto& h : en.rule_hits()) {
      EXPECT_FALSE(absl::StrContains(h.explanation(), "today")) << h.rule_id();
    }
  }
}

TEST_F(VignetteTest, SuspectedConditionsCarryTopicsAndCodes) {
  for (const Vignette& v : *vignettes_) {
    SCOPED_TRACE(Where(v));
    const auto r = engine_->Assess(Request(v, "en"));
    for (const auto& c : r.suspected_conditions()) {
      EXPECT_FALSE(c.rule_ids().empty());
      // Every suspected condition has guidance, so every answer can carry when-to-get-help text.
      EXPECT_FALSE(c.topic_id().empty()) << v1::Condition_Name(c.condition());
      if (c.condition() == v1::CONDITION_NEEDS_ASSESSMENT) {
        EXPECT_TRUE(c.codes().empty());  // not a diagnosis
        continue;
      }
      EXPECT_FALSE(c.codes().empty()) << v1::Condition_Name(c.condition());
      for (const auto& code : c.codes()) {
        EXPECT_TRUE(code.system() == "http://hl7.org/fhir/sid/icd-10-cm" ||
                    code.system() == "http://snomed.info/sct");
        // Puerperal (O87, O88.23, O12.05, O14.95, O99.355, O16.5) and other obstetric codes only in
        // pregnancy and the 6 weeks after birth (ICD-10-CM I.C.15.o).
        if (absl::StartsWith(code.code(), "O")) {
          EXPECT_LE(v.request.pregnancy().postpartum_weeks(), 6) << code.code();
        }
      }
    }
  }
}

// The table is only trustworthy if the vignettes exercise all of it.
TEST_F(VignetteTest, VignettesCoverEveryRuleLevelBoundaryAndSituation) {
  ASSERT_GE(vignettes_->size(), 200u);
  absl::flat_hash_set<std::string> shown;
  std::set<Urgency> levels;
  std::set<std::pair<int, int>> bps;
  std::set<float> temps, calves;
  std::set<int> weeks, postpartum;
  bool side_unknown = false, weeks_unknown = false, three_conditions = false, risk = false;
  for (const Vignette& v : *vignettes_) {
    const auto r = engine_->Assess(v.request);
    for (const auto& h : r.rule_hits()) shown.insert(h.rule_id());
    levels.insert(r.urgency());
    const auto& m = v.request.measurements();
    bps.insert({m.systolic_bp_mmhg(), m.diastolic_bp_mmhg()});
    temps.insert(m.temperature_c());
    calves.insert(m.calf_circumference_difference_cm());
    weeks.insert(v.request.pregnancy().gestational_age_weeks());
    postpartum.insert(v.request.pregnancy().postpartum_weeks());
    weeks_unknown |= v.request.pregnancy().gestational_age_weeks() == 0 &&
                     v.request.pregnancy().postpartum_weeks() == 0;
    three_conditions |= r.suspected_conditions_size() >= 3;
    risk |= !v.request.risk_factors().empty();
    for (const auto& s : v.request.symptoms()) side_unknown |= s.side() == v1::SIDE_UNSPECIFIED;
  }
  for (const CompiledRule& rule : engine_->table().rules()) {
    EXPECT_TRUE(shown.contains(rule.id)) << "no vignette makes " << rule.id << " fire";
  }
  EXPECT_EQ(levels, (std::set<Urgency>{v1::URGENCY_SELF_CARE, v1::URGENCY_ROUTINE,
                                       v1::URGENCY_URGENT, v1::URGENCY_EMERGENCY}));
  for (std::pair<int, int> bp : {std::pair{139, 89}, {140, 90}, {159, 109}, {160, 110}}) {
    EXPECT_TRUE(bps.contains(bp)) << "no vignette at " << bp.first << "/" << bp.second;
  }
  for (float t : {37.9f, 38.0f}) EXPECT_TRUE(temps.contains(t)) << t;
  for (float c : {1.9f, 2.0f}) EXPECT_TRUE(calves.contains(c)) << c;
  for (int w : {1, 2, 3, 4, 13, 14, 19, 20, 27, 28, 40, 41, 42}) {
    EXPECT_TRUE(weeks.contains(w)) << "no vignette at week " << w;
  }
  for (int pp : {1, 6, 7, 12, 52}) {
    EXPECT_TRUE(postpartum.contains(pp)) << "no vignette " << pp << " weeks postpartum";
  }
  EXPECT_TRUE(side_unknown);
  EXPECT_TRUE(weeks_unknown);
  EXPECT_TRUE(three_conditions);
  EXPECT_TRUE(risk);
}

}  // namespace
}  // namespace legwise::triage
