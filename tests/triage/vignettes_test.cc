// Clinical vignettes: each a person's report with the urgency and the suspected conditions a
// clinician expects (clinical-knowledge.md). Together they make every rule fire and cover every
// level, postpartum, the first trimester, unknown side and unknown weeks, and several conditions at
// once.
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "legwise/triage/v1/triage.pb.h"
#include "services/triage/engine/request_validation.h"
#include "services/triage/engine/triage_engine.h"
#include "tests/triage/test_util.h"

namespace legwise::triage {
namespace {

using testing::AddSymptoms;
using testing::CodePoints;
using v1::Condition;
using v1::Urgency;

constexpr Urgency E = v1::URGENCY_EMERGENCY;
constexpr Urgency U = v1::URGENCY_URGENT;
constexpr Urgency R = v1::URGENCY_ROUTINE;
constexpr Urgency S = v1::URGENCY_SELF_CARE;

constexpr Condition kCramps = v1::CONDITION_LEG_CRAMPS;
constexpr Condition kRls = v1::CONDITION_RESTLESS_LEGS_SYNDROME;
constexpr Condition kDvt = v1::CONDITION_DEEP_VEIN_THROMBOSIS;
constexpr Condition kPe = v1::CONDITION_PULMONARY_EMBOLISM;
constexpr Condition kPreE = v1::CONDITION_PRE_ECLAMPSIA;
constexpr Condition kCell = v1::CONDITION_CELLULITIS;
constexpr Condition kStp = v1::CONDITION_SUPERFICIAL_THROMBOPHLEBITIS;
constexpr Condition kIsch = v1::CONDITION_ACUTE_LIMB_ISCHAEMIA;
constexpr Condition kOedema = v1::CONDITION_PREGNANCY_OEDEMA;
constexpr Condition kAssess = v1::CONDITION_NEEDS_ASSESSMENT;

// One vignette. Symptoms use the short form of test_util.h. Measurements: 0 = not measured.
struct Vignette {
  const char* name;
  const char* symptoms;
  int weeks;       // gestational age, 0 = unknown
  int postpartum;  // weeks since birth, 0 = not postpartum
  float calf_cm;
  int systolic;
  int diastolic;
  float temp_c;
  Urgency level;
  std::set<Condition> conditions;
  std::vector<std::string> rules;  // must all be among the reported rule hits
};

const std::vector<Vignette>& Vignettes() {
  static const auto* v = new std::vector<Vignette>{
      // ---- EMERGENCY ----
      {"chest pain at 32 weeks", "chest", 32, 0, 0, 0, 0, 0, E, {kPe}, {"pe.chest_pain"}},
      {"coughing blood 2 weeks postpartum",
       "blood",
       0,
       2,
       0,
       0,
       0,
       0,
       E,
       {kPe},
       {"pe.coughing_blood"}},
      {"fainting in the first trimester", "faint", 10, 0, 0, 0, 0, 0, E, {kPe}, {"pe.fainting"}},
      {"sudden breathlessness", "sob!", 30, 0, 0, 0, 0, 0, E, {kPe}, {"pe.sudden_breathlessness"}},
      {"gradual breathlessness with a swollen left calf",
       "sob swell:L",
       28,
       0,
       0,
       0,
       0,
       0,
       E,
       {kPe, kDvt},
       {"pe.breathlessness_with_leg_sign", "dvt.one_leg_sign"}},
      {"breathlessness with a painful hard vein",
       "sob vein:R",
       20,
       0,
       0,
       0,
       0,
       0,
       E,
       {kPe, kDvt, kStp},
       {"pe.breathlessness_with_leg_sign", "thrombophlebitis.hard_vein"}},
      {"breathlessness 8 weeks postpartum with a tender leg, side unknown",
       "sob tender",
       0,
       8,
       0,
       0,
       0,
       0,
       E,
       {kPe, kDvt},
       {"pe.breathlessness_with_leg_sign", "dvt.one_leg_sign"}},
      {"cold pale painful right leg",
       "cold:R pain:R",
       25,
       0,
       0,
       0,
       0,
       0,
       E,
       {kIsch, kDvt},
       {"ischaemia.cold_pale_leg_with_pain", "dvt.one_leg_sign"}},
      {"cold pale leg with a cramp",
       "cold:L cramp:L",
       30,
       0,
       0,
       0,
       0,
       0,
       E,
       {kIsch},
       {"ischaemia.cold_pale_leg_with_pain"}},
      {"new numbness of the left leg",
       "numb:L",
       12,
       0,
       0,
       0,
       0,
       0,
       E,
       {kIsch},
       {"ischaemia.numbness_weakness"}},
      {"red hot right leg, fever, fast heartbeat",
       "red:R warm:R fever fastheart",
       24,
       0,
       0,
       0,
       0,
       0,
       E,
       {kCell, kDvt},
       {"cellulitis.severe", "dvt.one_leg_sign"}},
      {"red warm legs, measured 39 C, confusion, postpartum",
       "red:B warm:B confusion",
       0,
       4,
       0,
       0,
       0,
       39.0f,
       E,
       {kCell},
       {"cellulitis.severe"}},
      {"severe hypertension with headache at 34 weeks",
       "headache",
       34,
       0,
       0,
       165,
       100,
       0,
       E,
       {kPreE},
       {"preeclampsia.severe_hypertension", "preeclampsia.symptoms"}},
      {"diastolic 112 three weeks postpartum with swollen ankles",
       "swell:B",
       0,
       3,
       0,
       150,
       112,
       0,
       E,
       {kPreE},
       {"preeclampsia.severe_hypertension"}},
      {"BP 170 with weeks unknown",
       "headache",
       0,
       0,
       0,
       170,
       95,
       0,
       E,
       {kPreE},
       {"preeclampsia.severe_hypertension"}},
      {"chest pain with a calf cramp",
       "chest cramp:L",
       30,
       0,
       0,
       0,
       0,
       0,
       E,
       {kPe},
       {"pe.chest_pain"}},
      {"gradual breathlessness with a racing heart",
       "sob fastheart",
       26,
       0,
       0,
       0,
       0,
       0,
       E,
       {kPe},
       {"pe.breathlessness_with_fast_heartbeat"}},
      {"fainting and vomiting at 37 weeks",
       "faint vomit",
       37,
       0,
       0,
       0,
       0,
       0,
       E,
       {kPe, kPreE},
       {"pe.fainting", "preeclampsia.symptoms"}},

      // ---- URGENT ----
      {"swollen left calf, third trimester",
       "swell:L",
       32,
       0,
       0,
       0,
       0,
       0,
       U,
       {kDvt},
       {"dvt.one_leg_sign"}},
      {"tender right leg, second trimester",
       "tender:R",
       18,
       0,
       0,
       0,
       0,
       0,
       U,
       {kDvt},
       {"dvt.one_leg_sign"}},
      {"warm leg, side unknown", "warm", 26, 0, 0, 0, 0, 0, U, {kDvt}, {"dvt.one_leg_sign"}},
      {"red left leg 5 weeks postpartum",
       "red:L",
       0,
       5,
       0,
       0,
       0,
       0,
       U,
       {kDvt},
       {"dvt.one_leg_sign"}},
      {"persistent pain in one leg, first trimester",
       "pain:R",
       8,
       0,
       0,
       0,
       0,
       0,
       U,
       {kDvt},
       {"dvt.one_leg_sign"}},
      {"seed article: swelling and tenderness in both legs",
       "swell:B tender:B",
       30,
       0,
       0,
       0,
       0,
       0,
       U,
       {kDvt},
       {"dvt.swelling_with_tenderness"}},
      {"cramps in both legs with a measured calf difference",
       "cramp:B",
       29,
       0,
       2.5f,
       0,
       0,
       0,
       U,
       {kDvt},
       {"dvt.calf_difference"}},
      {"painful hard vein", "vein:L", 22, 0, 0, 0, 0, 0, U, {kStp}, {"thrombophlebitis.hard_vein"}},
      {"red hot legs with fever",
       "red:B warm:B fever",
       16,
       0,
       0,
       0,
       0,
       0,
       U,
       {kCell},
       {"cellulitis.red_hot_fever"}},
      {"red hot swollen left leg, 38.5 C",
       "red:L warm:L swell:L",
       31,
       0,
       0,
       0,
       0,
       38.5f,
       U,
       {kDvt, kCell},
       {"dvt.one_leg_sign", "cellulitis.red_hot_fever"}},
      {"headache and vision changes at 36 weeks",
       "headache vision",
       36,
       0,
       0,
       0,
       0,
       0,
       U,
       {kPreE},
       {"preeclampsia.symptoms"}},
      {"face swelling 1 week postpartum",
       "face",
       0,
       1,
       0,
       0,
       0,
       0,
       U,
       {kPreE},
       {"preeclampsia.symptoms"}},
      {"pain below the ribs, weeks unknown",
       "ribs",
       0,
       0,
       0,
       0,
       0,
       0,
       U,
       {kPreE},
       {"preeclampsia.symptoms"}},
      {"vomiting at 30 weeks", "vomit", 30, 0, 0, 0, 0, 0, U, {kPreE}, {"preeclampsia.symptoms"}},
      {"sudden swelling of both ankles at 33 weeks",
       "swell:B!",
       33,
       0,
       0,
       0,
       0,
       0,
       U,
       {kPreE},
       {"preeclampsia.sudden_leg_swelling"}},
      {"sudden swelling of both legs at 10 weeks",
       "swell:B!",
       10,
       0,
       0,
       0,
       0,
       0,
       U,
       {kAssess},
       {"warning.sudden_leg_swelling"}},
      {"BP 145/92 at 28 weeks with a cramp",
       "cramp:L",
       28,
       0,
       0,
       145,
       92,
       0,
       U,
       {kPreE},
       {"preeclampsia.hypertension"}},
      {"cold pale leg without pain",
       "cold:R",
       20,
       0,
       0,
       0,
       0,
       0,
       U,
       {kIsch},
       {"ischaemia.cold_pale_leg"}},
      {"gradual breathlessness",
       "sob",
       30,
       0,
       0,
       0,
       0,
       0,
       U,
       {kAssess},
       {"breathlessness.needs_assessment"}},
      {"severe headache at 12 weeks",
       "headache",
       12,
       0,
       0,
       0,
       0,
       0,
       U,
       {kAssess},
       {"warning.pre_eclampsia_sign"}},
      {"fever alone", "fever", 15, 0, 0, 0, 0, 0, U, {kAssess}, {"warning.systemic_sign"}},
      {"fast heartbeat 10 weeks postpartum",
       "fastheart",
       0,
       10,
       0,
       0,
       0,
       0,
       U,
       {kAssess},
       {"warning.systemic_sign"}},
      {"BP 165/100 at 10 weeks with a cramp",
       "cramp:L",
       10,
       0,
       0,
       165,
       100,
       0,
       U,
       {kAssess},
       {"hypertension.severe"}},
      {"face swelling 20 weeks postpartum",
       "face",
       0,
       20,
       0,
       0,
       0,
       0,
       U,
       {kAssess},
       {"warning.pre_eclampsia_sign"}},
      {"confusion at 38 weeks",
       "confusion",
       38,
       0,
       0,
       0,
       0,
       0,
       U,
       {kAssess},
       {"warning.systemic_sign"}},
      {"swollen left leg and severe headache at 35 weeks",
       "swell:L headache",
       35,
       0,
       0,
       0,
       0,
       0,
       U,
       {kDvt, kPreE},
       {"dvt.one_leg_sign", "preeclampsia.symptoms"}},
      {"restless legs plus a swollen right leg",
       "urge rest move evening swell:R",
       30,
       0,
       0,
       0,
       0,
       0,
       U,
       {kDvt},
       {"dvt.one_leg_sign"}},
      {"poor sleep with a 38.2 C temperature",
       "sleep",
       25,
       0,
       0,
       0,
       0,
       38.2f,
       U,
       {kAssess},
       {"warning.systemic_sign"}},

      // ---- ROUTINE ----
      {"all four RLS criteria, third trimester",
       "urge rest move evening",
       32,
       0,
       0,
       0,
       0,
       0,
       R,
       {kRls},
       {"rls.irlssg"}},
      {"RLS with sleep disruption",
       "urge:B rest move evening sleep",
       30,
       0,
       0,
       0,
       0,
       0,
       R,
       {kRls},
       {"rls.irlssg"}},
      {"RLS 2 weeks postpartum",
       "urge rest move evening",
       0,
       2,
       0,
       0,
       0,
       0,
       R,
       {kRls},
       {"rls.irlssg"}},
      {"bothersome swelling of both legs",
       "swell:B@8",
       34,
       0,
       0,
       0,
       0,
       0,
       R,
       {kOedema},
       {"oedema.bothersome"}},
      {"persistent pain in both legs",
       "pain:B",
       26,
       0,
       0,
       0,
       0,
       0,
       R,
       {kAssess},
       {"legs.bilateral_signs"}},
      {"tenderness in both legs",
       "tender:B",
       30,
       0,
       0,
       0,
       0,
       0,
       R,
       {kAssess},
       {"legs.bilateral_signs"}},
      {"BP 142/85 at 12 weeks with a cramp",
       "cramp:R",
       12,
       0,
       0,
       142,
       85,
       0,
       R,
       {kAssess, kCramps},
       {"hypertension.raised", "cramps.plain"}},
      {"sleep disruption only", "sleep", 30, 0, 0, 0, 0, 0, R, {kAssess}, {"sleep.disruption"}},
      {"cramps that disturb sleep",
       "cramp:L sleep",
       34,
       0,
       0,
       0,
       0,
       0,
       R,
       {kAssess, kCramps},
       {"sleep.disruption", "cramps.plain"}},
      {"RLS, cramps and ordinary swelling at 36 weeks",
       "urge rest move evening cramp:R swell:B",
       36,
       0,
       0,
       0,
       0,
       0,
       R,
       {kRls, kCramps, kOedema},
       {"rls.irlssg", "cramps.plain", "oedema.ordinary"}},
      {"bothersome swelling and RLS in the first trimester",
       "swell:B@7 urge rest move evening",
       12,
       0,
       0,
       0,
       0,
       0,
       R,
       {kOedema, kRls},
       {"oedema.bothersome", "rls.irlssg"}},
      {"BP 140/85 35 weeks postpartum",
       "cramp:L",
       0,
       35,
       0,
       140,
       85,
       0,
       R,
       {kAssess, kCramps},
       {"hypertension.raised"}},

      // ---- SELF_CARE ----
      {"night cramp, third trimester",
       "cramp:R",
       30,
       0,
       0,
       0,
       0,
       0,
       S,
       {kCramps},
       {"cramps.plain"}},
      {"cramp, side unknown, first trimester",
       "cramp",
       9,
       0,
       0,
       0,
       0,
       0,
       S,
       {kCramps},
       {"cramps.plain"}},
      {"cramp 3 weeks postpartum", "cramp:L", 0, 3, 0, 0, 0, 0, S, {kCramps}, {"cramps.plain"}},
      {"ordinary swelling of both ankles",
       "swell:B",
       32,
       0,
       0,
       0,
       0,
       0,
       S,
       {kOedema},
       {"oedema.ordinary"}},
      {"urge to move only", "urge", 30, 0, 0, 0, 0, 0, S, {kRls}, {"rls.possible"}},
      {"worse in the evening, relieved by movement",
       "evening move",
       26,
       0,
       0,
       0,
       0,
       0,
       S,
       {kRls},
       {"rls.possible"}},
      {"cramps and ordinary swelling",
       "cramp:L swell:B",
       35,
       0,
       0,
       0,
       0,
       0,
       S,
       {kCramps, kOedema},
       {"cramps.plain", "oedema.ordinary"}},
      {"severe cramp in both legs", "cramp:B@9", 30, 0, 0, 0, 0, 0, S, {kCramps}, {"cramps.plain"}},
      {"the same cramp reported three times",
       "cramp:L cramp:L@6 cramp:L!",
       30,
       0,
       0,
       0,
       0,
       0,
       S,
       {kCramps},
       {"cramps.plain"}},
      {"swelling of both legs at 10 weeks",
       "swell:B",
       10,
       0,
       0,
       0,
       0,
       0,
       S,
       {kOedema},
       {"oedema.ordinary"}},
      {"cramp, weeks unknown, normal BP",
       "cramp:R",
       0,
       0,
       0,
       118,
       75,
       0,
       S,
       {kCramps},
       {"cramps.plain"}},
      {"cramp with a small calf difference and normal temperature",
       "cramp:L",
       30,
       0,
       1.5f,
       0,
       0,
       37.0f,
       S,
       {kCramps},
       {"cramps.plain"}},
  };
  return *v;
}

v1::AssessLegSymptomsRequest ToRequest(const Vignette& v, absl::string_view locale) {
  v1::AssessLegSymptomsRequest r;
  AddSymptoms(v.symptoms, &r);
  r.mutable_pregnancy()->set_gestational_age_weeks(v.weeks);
  r.mutable_pregnancy()->set_postpartum_weeks(v.postpartum);
  r.mutable_measurements()->set_calf_circumference_difference_cm(v.calf_cm);
  r.mutable_measurements()->set_systolic_bp_mmhg(v.systolic);
  r.mutable_measurements()->set_diastolic_bp_mmhg(v.diastolic);
  r.mutable_measurements()->set_temperature_c(v.temp_c);
  r.set_locale(std::string(locale));
  return r;
}

class VignetteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto table = RuleTable::Builtin();
    ASSERT_TRUE(table.ok()) << table.status();
    engine_ = new TriageEngine(*table);
  }
  static TriageEngine* engine_;
};
TriageEngine* VignetteTest::engine_ = nullptr;

TEST_F(VignetteTest, EachVignetteGetsTheExpectedLevelAndConditions) {
  for (const Vignette& v : Vignettes()) {
    SCOPED_TRACE(v.name);
    const v1::AssessLegSymptomsRequest request = ToRequest(v, "en");
    ASSERT_TRUE(ValidateAssessRequest(request).empty());
    const v1::AssessLegSymptomsResponse r = engine_->Assess(request);
    EXPECT_EQ(r.urgency(), v.level) << v1::Urgency_Name(r.urgency());
    std::set<Condition> got;
    for (const auto& c : r.suspected_conditions()) got.insert(c.condition());
    EXPECT_EQ(got, v.conditions) << r.DebugString();
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
    }
    EXPECT_EQ(r.rule_set_version(), engine_->table().version());
    // LEFt whenever DVT is suspected, and only then.
    EXPECT_EQ(r.left_score().evaluated(), got.contains(kDvt));
  }
}

TEST_F(VignetteTest, SummaryIsOneShortSentenceInEnglishAndSpanish) {
  for (const Vignette& v : Vignettes()) {
    SCOPED_TRACE(v.name);
    for (absl::string_view locale : {"en", "es", "es-MX", "fr", ""}) {
      const v1::AssessLegSymptomsResponse r = engine_->Assess(ToRequest(v, locale));
      EXPECT_LT(CodePoints(r.summary()), 140u) << r.summary();
      EXPECT_GT(CodePoints(r.summary()), 20u) << r.summary();
      EXPECT_EQ(r.summary().find("{condition}"), std::string::npos);
      EXPECT_EQ(r.summary().back(), '.');
      EXPECT_EQ(r.locale(), ResolveLang(locale) == Lang::kEs ? "es" : "en");
    }
    const auto en = engine_->Assess(ToRequest(v, "en"));
    const auto es = engine_->Assess(ToRequest(v, "es"));
    EXPECT_NE(en.summary(), es.summary());
    EXPECT_EQ(en.urgency(), es.urgency());  // language never changes the answer
    ASSERT_EQ(en.rule_hits_size(), es.rule_hits_size());
    for (int i = 0; i < en.rule_hits_size(); ++i) {
      EXPECT_NE(en.rule_hits(i).explanation(), es.rule_hits(i).explanation());
    }
  }
}

TEST_F(VignetteTest, SuspectedConditionsCarryTopicsAndCodes) {
  for (const Vignette& v : Vignettes()) {
    SCOPED_TRACE(v.name);
    const auto r = engine_->Assess(ToRequest(v, "en"));
    for (const auto& c : r.suspected_conditions()) {
      EXPECT_FALSE(c.rule_ids().empty());
      if (c.condition() == kAssess) continue;
      EXPECT_FALSE(c.topic_id().empty()) << v1::Condition_Name(c.condition());
      EXPECT_FALSE(c.codes().empty()) << v1::Condition_Name(c.condition());
      for (const auto& code : c.codes()) {
        EXPECT_TRUE(code.system() == "http://hl7.org/fhir/sid/icd-10-cm" ||
                    code.system() == "http://snomed.info/sct");
      }
    }
  }
}

// The table is only trustworthy if the vignettes exercise all of it.
TEST_F(VignetteTest, VignettesCoverEveryRuleLevelAndSituation) {
  ASSERT_GE(Vignettes().size(), 60u);
  absl::flat_hash_set<std::string> shown;
  std::set<Urgency> levels;
  bool postpartum = false, first_trimester = false, side_unknown = false, weeks_unknown = false,
       three_conditions = false;
  for (const Vignette& v : Vignettes()) {
    const auto request = ToRequest(v, "en");
    const auto r = engine_->Assess(request);
    for (const auto& h : r.rule_hits()) shown.insert(h.rule_id());
    levels.insert(r.urgency());
    postpartum |= v.postpartum > 0;
    first_trimester |= v.weeks >= 1 && v.weeks < 14;
    weeks_unknown |= v.weeks == 0 && v.postpartum == 0;
    three_conditions |= r.suspected_conditions_size() >= 3;
    for (const auto& s : request.symptoms()) side_unknown |= s.side() == v1::SIDE_UNSPECIFIED;
  }
  for (const CompiledRule& rule : engine_->table().rules()) {
    EXPECT_TRUE(shown.contains(rule.id)) << "no vignette makes " << rule.id << " fire";
  }
  EXPECT_EQ(levels, (std::set<Urgency>{S, R, U, E}));
  EXPECT_TRUE(postpartum);
  EXPECT_TRUE(first_trimester);
  EXPECT_TRUE(side_unknown);
  EXPECT_TRUE(weeks_unknown);
  EXPECT_TRUE(three_conditions);
}

}  // namespace
}  // namespace legwise::triage
