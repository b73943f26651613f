// Unit tests of the engine's details: codes by trimester and side, the LEFt score, follow-up
// questions, duplicate merging, the rule-set description, and the loader's safety checks.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "services/triage/engine/builtin_rules.h"
#include "services/triage/engine/rule_table.h"
#include "services/triage/engine/triage_engine.h"
#include "tests/triage/test_util.h"

namespace legwise::triage {
namespace {

using testing::AddSymptoms;

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto table = RuleTable::Builtin();
    ASSERT_TRUE(table.ok()) << table.status();
    engine_ = new TriageEngine(*table);
  }

  static v1::AssessLegSymptomsResponse Assess(absl::string_view symptoms, int weeks, int postpartum,
                                              float calf_cm = 0, absl::string_view locale = "en") {
    v1::AssessLegSymptomsRequest r;
    AddSymptoms(symptoms, &r);
    r.mutable_pregnancy()->set_gestational_age_weeks(weeks);
    r.mutable_pregnancy()->set_postpartum_weeks(postpartum);
    r.mutable_measurements()->set_calf_circumference_difference_cm(calf_cm);
    r.set_locale(std::string(locale));
    return engine_->Assess(r);
  }

  static std::vector<std::string> Codes(const v1::AssessLegSymptomsResponse& r, v1::Condition c,
                                        absl::string_view system) {
    std::vector<std::string> out;
    for (const auto& sc : r.suspected_conditions()) {
      if (sc.condition() != c) continue;
      for (const auto& code : sc.codes()) {
        if (code.system() == system) out.push_back(code.code());
      }
    }
    return out;
  }

  static std::string FollowUpText(absl::string_view id, Lang lang = Lang::kEn) {
    for (const auto& f : engine_->table().follow_ups()) {
      if (f.id == id) return f.text[static_cast<int>(lang)];
    }
    ADD_FAILURE() << "no follow-up " << id;
    return "";
  }

  static bool Asks(const v1::AssessLegSymptomsResponse& r, absl::string_view id) {
    const std::string text = FollowUpText(id);
    for (const auto& q : r.follow_up_questions()) {
      if (q == text) return true;
    }
    return false;
  }

  static TriageEngine* engine_;
};
TriageEngine* EngineTest::engine_ = nullptr;

constexpr absl::string_view kIcd = "http://hl7.org/fhir/sid/icd-10-cm";
constexpr absl::string_view kSnomed = "http://snomed.info/sct";
using Strings = std::vector<std::string>;

TEST_F(EngineTest, DvtCodesFollowTheTrimesterAndPostpartum) {
  const auto dvt = v1::CONDITION_DEEP_VEIN_THROMBOSIS;
  EXPECT_EQ(Codes(Assess("swell:L", 1, 0), dvt, kIcd), Strings{"O22.31"});
  EXPECT_EQ(Codes(Assess("swell:L", 13, 0), dvt, kIcd), Strings{"O22.31"});
  EXPECT_EQ(Codes(Assess("swell:L", 14, 0), dvt, kIcd), Strings{"O22.32"});
  EXPECT_EQ(Codes(Assess("swell:L", 27, 0), dvt, kIcd), Strings{"O22.32"});
  EXPECT_EQ(Codes(Assess("swell:L", 28, 0), dvt, kIcd), Strings{"O22.33"});
  EXPECT_EQ(Codes(Assess("swell:L", 45, 0), dvt, kIcd), Strings{"O22.33"});
  EXPECT_EQ(Codes(Assess("swell:L", 0, 0), dvt, kIcd), Strings{"O22.30"});
  EXPECT_EQ(Codes(Assess("swell:L", 0, 4), dvt, kIcd), Strings{"O87.1"});
  EXPECT_EQ(Codes(Assess("swell:L", 0, 4), dvt, kSnomed), (Strings{"128053003", "404223003"}));
}

TEST_F(EngineTest, OtherConditionCodes) {
  EXPECT_EQ(Codes(Assess("red:L warm:L fever", 30, 0), v1::CONDITION_CELLULITIS, kIcd),
            Strings{"L03.116"});
  EXPECT_EQ(Codes(Assess("red:R warm:R fever", 30, 0), v1::CONDITION_CELLULITIS, kIcd),
            Strings{"L03.115"});
  EXPECT_EQ(Codes(Assess("red:L warm:R fever", 30, 0), v1::CONDITION_CELLULITIS, kIcd),
            Strings{"L03.119"});
  EXPECT_EQ(
      Codes(Assess("urge rest move evening", 30, 0), v1::CONDITION_RESTLESS_LEGS_SYNDROME, kIcd),
      (Strings{"G25.81", "O99.353"}));
  EXPECT_EQ(Codes(Assess("headache", 0, 2), v1::CONDITION_PRE_ECLAMPSIA, kIcd), Strings{"O14.95"});
  EXPECT_EQ(Codes(Assess("headache", 22, 0), v1::CONDITION_PRE_ECLAMPSIA, kIcd), Strings{"O14.92"});
  EXPECT_EQ(Codes(Assess("chest", 30, 0), v1::CONDITION_PULMONARY_EMBOLISM, kIcd),
            Strings{"O88.213"});
  EXPECT_EQ(Codes(Assess("vein:L", 0, 3), v1::CONDITION_SUPERFICIAL_THROMBOPHLEBITIS, kIcd),
            Strings{"O87.0"});
  // Cramps in pregnancy also carry O26.89x with the trimester; not after birth.
  EXPECT_EQ(Codes(Assess("cramp:L", 30, 0), v1::CONDITION_LEG_CRAMPS, kIcd),
            (Strings{"R25.2", "O26.893"}));
  EXPECT_EQ(Codes(Assess("cramp:L", 3, 0), v1::CONDITION_LEG_CRAMPS, kIcd),
            (Strings{"R25.2", "O26.891"}));
  EXPECT_EQ(Codes(Assess("cramp:L", 0, 0), v1::CONDITION_LEG_CRAMPS, kIcd),
            (Strings{"R25.2", "O26.899"}));
  EXPECT_EQ(Codes(Assess("cramp:L", 0, 3), v1::CONDITION_LEG_CRAMPS, kIcd), Strings{"R25.2"});
  EXPECT_EQ(Codes(Assess("swell:B", 20, 0), v1::CONDITION_PREGNANCY_OEDEMA, kIcd),
            (Strings{"O12.02", "R60.0"}));
}

// ICD-10-CM guideline I.C.15.o: puerperal codes only within 6 weeks after birth; after that, the
// non-obstetric code (with laterality where the code has it).
TEST_F(EngineTest, PuerperalCodesOnlyInTheFirstSixWeeks) {
  EXPECT_EQ(Codes(Assess("swell:L", 0, 6), v1::CONDITION_DEEP_VEIN_THROMBOSIS, kIcd),
            Strings{"O87.1"});
  EXPECT_EQ(Codes(Assess("swell:L", 0, 7), v1::CONDITION_DEEP_VEIN_THROMBOSIS, kIcd),
            Strings{"I82.402"});
  EXPECT_EQ(Codes(Assess("swell:R tender:R", 0, 10), v1::CONDITION_DEEP_VEIN_THROMBOSIS, kIcd),
            Strings{"I82.401"});
  EXPECT_EQ(Codes(Assess("swell:L tender:R", 0, 10), v1::CONDITION_DEEP_VEIN_THROMBOSIS, kIcd),
            Strings{"I82.403"});
  EXPECT_EQ(Codes(Assess("swell", 0, 10), v1::CONDITION_DEEP_VEIN_THROMBOSIS, kIcd),
            Strings{"I82.409"});
  EXPECT_EQ(Codes(Assess("chest", 0, 6), v1::CONDITION_PULMONARY_EMBOLISM, kIcd),
            Strings{"O88.23"});
  EXPECT_EQ(Codes(Assess("chest", 0, 7), v1::CONDITION_PULMONARY_EMBOLISM, kIcd),
            Strings{"I26.99"});
  EXPECT_EQ(Codes(Assess("vein:L", 0, 6), v1::CONDITION_SUPERFICIAL_THROMBOPHLEBITIS, kIcd),
            Strings{"O87.0"});
  EXPECT_EQ(Codes(Assess("vein:L", 0, 8), v1::CONDITION_SUPERFICIAL_THROMBOPHLEBITIS, kIcd),
            Strings{"I80.02"});
  EXPECT_EQ(
      Codes(Assess("urge rest move evening", 0, 6), v1::CONDITION_RESTLESS_LEGS_SYNDROME, kIcd),
      (Strings{"G25.81", "O99.355"}));
  EXPECT_EQ(
      Codes(Assess("urge rest move evening", 0, 7), v1::CONDITION_RESTLESS_LEGS_SYNDROME, kIcd),
      Strings{"G25.81"});
  EXPECT_EQ(Codes(Assess("swell:B", 0, 6), v1::CONDITION_PREGNANCY_OEDEMA, kIcd),
            (Strings{"O12.05", "R60.0"}));
  EXPECT_EQ(Codes(Assess("swell:B", 0, 7), v1::CONDITION_PREGNANCY_OEDEMA, kIcd), Strings{"R60.0"});
}

// A condition's side-specific code and the LEFt "L" look only at that condition's own signs.
TEST_F(EngineTest, SideCodesLookOnlyAtTheConditionsSigns) {
  EXPECT_EQ(Codes(Assess("red:L warm:L fever cramp:R", 30, 0), v1::CONDITION_CELLULITIS, kIcd),
            Strings{"L03.116"});
  EXPECT_EQ(Codes(Assess("red:R warm:R fever cramp:L", 30, 0), v1::CONDITION_CELLULITIS, kIcd),
            Strings{"L03.115"});
  const auto right_clot_left_cramp = Assess("swell:R cramp:L", 30, 0).left_score();
  EXPECT_TRUE(right_clot_left_cramp.evaluated());
  EXPECT_FALSE(right_clot_left_cramp.left_leg());
  EXPECT_TRUE(Assess("swell:L cramp:R", 30, 0).left_score().left_leg());
}

TEST_F(EngineTest, TopicsForContent) {
  auto topic = [](const v1::AssessLegSymptomsResponse& r) {
    return r.suspected_conditions(0).topic_id();
  };
  EXPECT_EQ(topic(Assess("cramp:L", 30, 0)), "leg-cramps");
  EXPECT_EQ(topic(Assess("urge rest move evening", 30, 0)), "restless-legs");
  EXPECT_EQ(topic(Assess("swell:L", 30, 0)), "blood-clot-warning-signs");
  EXPECT_EQ(topic(Assess("chest", 30, 0)), "blood-clot-warning-signs");
  EXPECT_EQ(topic(Assess("headache", 30, 0)), "pre-eclampsia-warning-signs");
  EXPECT_EQ(topic(Assess("swell:B", 30, 0)), "swelling");
}

TEST_F(EngineTest, LeftScoreComponents) {
  auto l = Assess("swell:L", 10, 0, 2.5f).left_score();
  EXPECT_TRUE(l.evaluated());
  EXPECT_TRUE(l.left_leg());
  EXPECT_TRUE(l.edema());
  EXPECT_TRUE(l.first_trimester());
  EXPECT_EQ(l.total(), 3);

  l = Assess("swell:R", 30, 0).left_score();
  EXPECT_TRUE(l.evaluated());
  EXPECT_EQ(l.total(), 0);

  l = Assess("tender:L", 20, 0, 1.9f).left_score();
  EXPECT_TRUE(l.left_leg());
  EXPECT_FALSE(l.edema());
  EXPECT_EQ(l.total(), 1);

  l = Assess("swell:L", 0, 3).left_score();  // postpartum: not first trimester
  EXPECT_FALSE(l.first_trimester());
  EXPECT_EQ(l.total(), 1);

  EXPECT_FALSE(Assess("cramp:L", 10, 0).left_score().evaluated());
}

TEST_F(EngineTest, LeftScoreOfZeroNeverReassures) {
  // A right-leg DVT sign in the third trimester scores 0 and stays URGENT.
  const auto r = Assess("swell:R", 30, 0);
  EXPECT_EQ(r.left_score().total(), 0);
  EXPECT_EQ(r.urgency(), v1::URGENCY_URGENT);
}

TEST_F(EngineTest, FollowUpQuestionsSayWhatWouldChangeTheResult) {
  EXPECT_TRUE(Asks(Assess("swell", 30, 0), "leg_side"));
  EXPECT_FALSE(Asks(Assess("swell:L", 30, 0), "leg_side"));
  EXPECT_TRUE(Asks(Assess("swell:L", 0, 0), "pregnancy_weeks"));
  EXPECT_FALSE(Asks(Assess("swell:L", 30, 0), "pregnancy_weeks"));
  EXPECT_TRUE(Asks(Assess("cramp:L", 30, 0), "blood_pressure"));
  EXPECT_FALSE(Asks(Assess("cramp:L", 12, 0), "blood_pressure"));  // before 20 weeks
  EXPECT_TRUE(Asks(Assess("cramp:L", 12, 0), "cramp_details"));
  EXPECT_TRUE(Asks(Assess("sob", 30, 0), "breathlessness_onset"));
  EXPECT_FALSE(Asks(Assess("sob!", 30, 0), "breathlessness_onset"));
  EXPECT_TRUE(Asks(Assess("red:L warm:L", 30, 0), "fever"));
  EXPECT_FALSE(Asks(Assess("red:L warm:L fever", 30, 0), "fever"));
  EXPECT_TRUE(Asks(Assess("red:L warm:L fever", 30, 0), "sepsis_signs"));
  EXPECT_TRUE(Asks(Assess("cold:L", 30, 0), "cold_leg_pain"));
  EXPECT_TRUE(Asks(Assess("swell:L", 30, 0), "calf_measurement"));
  EXPECT_FALSE(Asks(Assess("swell:L", 30, 0, 1.0f), "calf_measurement"));
  EXPECT_TRUE(Asks(Assess("urge", 30, 0), "rls_criteria"));
  EXPECT_FALSE(Asks(Assess("urge rest move evening", 30, 0), "rls_criteria"));
  EXPECT_TRUE(Asks(Assess("swell:B", 30, 0), "swelling_details"));
  // Localized.
  const auto es = Assess("swell", 30, 0, 0, "es");
  bool found = false;
  for (const auto& q : es.follow_up_questions()) found |= q == FollowUpText("leg_side", Lang::kEs);
  EXPECT_TRUE(found);
}

TEST_F(EngineTest, DuplicateSymptomsAreMerged) {
  v1::AssessLegSymptomsRequest once, thrice;
  AddSymptoms("swell:B!@8", &once);
  AddSymptoms("swell:B@2 swell:B@8 swell:B!", &thrice);
  once.mutable_pregnancy()->set_gestational_age_weeks(30);
  *thrice.mutable_pregnancy() = once.pregnancy();
  const auto a = engine_->Assess(once);
  const auto b = engine_->Assess(thrice);
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  // The merged symptom is both severe (bothersome oedema) and sudden (pre-eclampsia sign).
  EXPECT_EQ(b.urgency(), v1::URGENCY_URGENT);
  Facts facts;
  engine_->table().BuildFacts(thrice, &facts);
  ASSERT_EQ(facts.symptoms.size(), 1u);
  EXPECT_EQ(facts.symptoms[0].severity, 8);
  EXPECT_TRUE(facts.symptoms[0].sudden);
}

TEST_F(EngineTest, EchoesRequestIdAndVersion) {
  v1::AssessLegSymptomsRequest r;
  AddSymptoms("cramp:L", &r);
  r.set_request_id("req-42");
  const auto out = engine_->Assess(r);
  EXPECT_EQ(out.request_id(), "req-42");
  EXPECT_EQ(out.rule_set_version(), "2026.12.1");
  EXPECT_FALSE(out.guidance_degraded());
  EXPECT_TRUE(out.guidance().empty());
}

TEST_F(EngineTest, DescribeRulesListsEveryRuleInTheAskedLanguage) {
  const auto en = engine_->DescribeRules("en");
  const auto es = engine_->DescribeRules("es-419");
  EXPECT_EQ(en.version(), engine_->table().version());
  ASSERT_EQ(en.rules_size(), static_cast<int>(engine_->table().rules().size()));
  ASSERT_EQ(es.rules_size(), en.rules_size());
  for (int i = 0; i < en.rules_size(); ++i) {
    EXPECT_FALSE(en.rules(i).rule_id().empty());
    EXPECT_NE(en.rules(i).urgency(), v1::URGENCY_UNSPECIFIED);
    EXPECT_FALSE(en.rules(i).sources().empty());
    EXPECT_FALSE(en.rules(i).conditions().empty());
    EXPECT_NE(en.rules(i).description(), es.rules(i).description());
  }
}

TEST(RuleTableTest, SourceFileMatchesTheEmbeddedTable) {
  auto from_file = RuleTable::FromFile(LEGWISE_TRIAGE_RULES_FILE);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  auto builtin = RuleTable::Builtin();
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ((*from_file)->version(), (*builtin)->version());
  EXPECT_EQ((*from_file)->rules().size(), (*builtin)->rules().size());
  EXPECT_FALSE(RuleTable::FromFile("/nonexistent/rules.textproto").ok());
}

// The loader refuses tables that would break the safety properties.
class RuleTableRejects : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        google::protobuf::TextFormat::ParseFromString(std::string(BuiltinRulesText()), &def_));
  }
  absl::Status Load() {
    std::string text;
    google::protobuf::TextFormat::PrintToString(def_, &text);
    return RuleTable::FromText(text).status();
  }
  engine::v1::RuleDef* Rule(absl::string_view id) {
    for (auto& r : *def_.mutable_rules()) {
      if (r.id() == id) return &r;
    }
    ADD_FAILURE() << id;
    return def_.mutable_rules(0);
  }
  engine::v1::RuleSetDef def_;
};

TEST_F(RuleTableRejects, NothingWhenUnchanged) { EXPECT_TRUE(Load().ok()) << Load(); }

TEST_F(RuleTableRejects, UnlessLevelNotAboveTheRule) {
  Rule("cramps.plain")->set_unless_level_at_least(v1::URGENCY_SELF_CARE);
  EXPECT_TRUE(absl::StrContains(Load().message(), "unless_level_at_least")) << Load();
}

TEST_F(RuleTableRejects, UnlessRuleLessUrgent) {
  Rule("dvt.one_leg_sign")->add_unless_rules("cramps.plain");
  EXPECT_TRUE(absl::StrContains(Load().message(), "less urgent")) << Load();
}

TEST_F(RuleTableRejects, UnlessRulesCycle) {
  Rule("warning.sudden_leg_swelling")->add_unless_rules("warning.systemic_sign");
  Rule("warning.systemic_sign")->add_unless_rules("warning.sudden_leg_swelling");
  EXPECT_TRUE(absl::StrContains(Load().message(), "cycle")) << Load();
}

TEST_F(RuleTableRejects, UnknownRuleId) {
  Rule("cramps.plain")->add_unless_rules("no.such_rule");
  EXPECT_TRUE(absl::StrContains(Load().message(), "unknown rule")) << Load();
}

TEST_F(RuleTableRejects, MissingTranslation) {
  Rule("cramps.plain")->mutable_explanation()->clear_es();
  EXPECT_TRUE(absl::StrContains(Load().message(), "Spanish")) << Load();
}

TEST_F(RuleTableRejects, RuleWithoutSource) {
  Rule("cramps.plain")->clear_sources();
  EXPECT_TRUE(absl::StrContains(Load().message(), "source")) << Load();
}

TEST_F(RuleTableRejects, ASymptomThatFiresNothing) {
  // Without the cramp rule, a cramp alone would get no urgency at all.
  auto* rules = def_.mutable_rules();
  for (int i = 0; i < rules->size(); ++i) {
    if (rules->Get(i).id() == "cramps.plain") {
      rules->DeleteSubrange(i, 1);
      break;
    }
  }
  for (auto& r : *rules) {
    auto* unless = r.mutable_unless_rules();
    for (int i = unless->size() - 1; i >= 0; --i) {
      if (unless->Get(i) == "cramps.plain") unless->DeleteSubrange(i, 1);
    }
  }
  for (auto& f : *def_.mutable_follow_ups()) {
    for (auto& a : *f.mutable_ask_when()) {
      auto* fired = a.mutable_rule_fired();
      for (int i = 0; i < fired->size(); ++i) {
        if (fired->Get(i) == "cramps.plain") fired->Mutable(i)->assign("rls.possible");
      }
    }
  }
  EXPECT_TRUE(absl::StrContains(Load().message(), "SYMPTOM_KIND_MUSCLE_CRAMP")) << Load();
}

TEST_F(RuleTableRejects, UnmeasuredValueCouldMatch) {
  Rule("dvt.calf_difference")
      ->mutable_match(0)
      ->mutable_require(0)
      ->mutable_measurement(0)
      ->set_at_least(0);
  EXPECT_TRUE(absl::StrContains(Load().message(), "threshold")) << Load();
}

TEST_F(RuleTableRejects, EmptyPattern) {
  Rule("cramps.plain")->add_match();
  EXPECT_TRUE(absl::StrContains(Load().message(), "empty pattern")) << Load();
}

TEST_F(RuleTableRejects, GarbageText) { EXPECT_FALSE(RuleTable::FromText("rules { id: ").ok()); }

}  // namespace
}  // namespace legwise::triage
