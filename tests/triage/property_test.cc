// Property tests over thousands of random reports (seeded, so failures reproduce):
// - monotonicity: adding a symptom, a measurement or a risk factor never lowers the urgency;
// - a leg sign with a major clot risk factor is at least URGENT and names it;
// - the dangerous reading: an unknown side or unknown pregnancy weeks is never less urgent than
//   any known value;
// - determinism: the same report (in any symptom order) always gives the same answer;
// - every answer is well formed (a hit at the answer's level, a short summary, LEFt iff DVT).
#include <algorithm>
#include <random>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/triage/engine/request_validation.h"
#include "services/triage/engine/triage_engine.h"
#include "tests/triage/test_util.h"

namespace legwise::triage {
namespace {

constexpr int kIterations = 5000;

class Random {
 public:
  explicit Random(uint64_t seed) : gen_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(gen_); }

  v1::Symptom Symptom() {
    v1::Symptom s;
    s.set_kind(static_cast<v1::SymptomKind>(Int(1, v1::SymptomKind_MAX)));
    s.set_side(static_cast<v1::Side>(Int(0, v1::Side_MAX)));
    s.set_site(static_cast<v1::BodySite>(Int(0, v1::BodySite_MAX)));
    s.set_severity(Chance(0.5) ? 0 : Int(1, 10));
    s.set_sudden_onset(Chance(0.3));
    return s;
  }

  v1::RiskFactor RiskFactor() { return static_cast<v1::RiskFactor>(Int(1, v1::RiskFactor_MAX)); }

  // A random measurement index 0..3 set to a random valid value.
  void SetMeasurement(int which, v1::Measurements* m) {
    switch (which) {
      case 0:
        m->set_calf_circumference_difference_cm(static_cast<float>(Int(1, 50)) / 10.0f);
        break;
      // A blood pressure pair always has the diastolic below the systolic (else it is invalid).
      case 1:
        m->set_systolic_bp_mmhg(Int(std::max(90, m->diastolic_bp_mmhg() + 1), 190));
        break;
      case 2:
        m->set_diastolic_bp_mmhg(
            Int(50, m->systolic_bp_mmhg() == 0 ? 125 : std::min(125, m->systolic_bp_mmhg() - 1)));
        break;
      default:
        m->set_temperature_c(static_cast<float>(Int(355, 405)) / 10.0f);
        break;
    }
  }

  v1::AssessLegSymptomsRequest Request() {
    v1::AssessLegSymptomsRequest r;
    const int n = Int(1, 6);
    for (int i = 0; i < n; ++i) *r.add_symptoms() = Symptom();
    switch (Int(0, 2)) {
      case 0:
        break;  // unknown
      case 1:
        r.mutable_pregnancy()->set_gestational_age_weeks(Int(1, 45));
        break;
      default:
        r.mutable_pregnancy()->set_postpartum_weeks(Int(1, 52));
        break;
    }
    for (int i = 0; i < 4; ++i) {
      if (Chance(0.2)) SetMeasurement(i, r.mutable_measurements());
    }
    while (Chance(0.25)) r.add_risk_factors(RiskFactor());
    r.set_locale(Chance(0.5) ? "en" : "es");
    return r;
  }

  std::mt19937_64& gen() { return gen_; }

 private:
  std::mt19937_64 gen_;
};

class PropertyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto table = RuleTable::Builtin();
    ASSERT_TRUE(table.ok()) << table.status();
    engine_ = new TriageEngine(*table);
  }
  static v1::Urgency Level(const v1::AssessLegSymptomsRequest& r) {
    EXPECT_TRUE(ValidateAssessRequest(r).empty()) << r.DebugString();
    return engine_->Assess(r).urgency();
  }
  static TriageEngine* engine_;
};
TriageEngine* PropertyTest::engine_ = nullptr;

TEST_F(PropertyTest, AddingASymptomNeverLowersTheUrgency) {
  Random rnd(20261125);
  for (int i = 0; i < kIterations; ++i) {
    v1::AssessLegSymptomsRequest r = rnd.Request();
    const v1::Urgency before = Level(r);
    // Sometimes a duplicate of an existing symptom (which merges), sometimes a new one.
    v1::Symptom added =
        rnd.Chance(0.3) ? r.symptoms(rnd.Int(0, r.symptoms_size() - 1)) : rnd.Symptom();
    if (rnd.Chance(0.5)) added.set_severity(rnd.Int(1, 10));
    if (rnd.Chance(0.5)) added.set_sudden_onset(true);
    *r.add_symptoms() = added;
    const v1::Urgency after = Level(r);
    ASSERT_GE(after, before) << r.DebugString();
  }
}

TEST_F(PropertyTest, AddingAMeasurementNeverLowersTheUrgency) {
  Random rnd(7);
  for (int i = 0; i < kIterations; ++i) {
    v1::AssessLegSymptomsRequest r = rnd.Request();
    r.clear_measurements();
    for (int m = 0; m < 4; ++m) {
      if (rnd.Chance(0.3)) rnd.SetMeasurement(m, r.mutable_measurements());
    }
    const v1::Urgency before = Level(r);
    const int which = rnd.Int(0, 3);
    const v1::Measurements saved = r.measurements();
    rnd.SetMeasurement(which, r.mutable_measurements());
    // Only count it as "adding" when that value was not measured before.
    const bool was_unmeasured = (which == 0 && saved.calf_circumference_difference_cm() == 0) ||
                                (which == 1 && saved.systolic_bp_mmhg() == 0) ||
                                (which == 2 && saved.diastolic_bp_mmhg() == 0) ||
                                (which == 3 && saved.temperature_c() == 0);
    if (!was_unmeasured) continue;
    ASSERT_GE(Level(r), before) << r.DebugString();
  }
}

TEST_F(PropertyTest, AddingARiskFactorNeverLowersTheUrgency) {
  Random rnd(37);
  for (int i = 0; i < kIterations; ++i) {
    v1::AssessLegSymptomsRequest r = rnd.Request();
    const v1::Urgency before = Level(r);
    r.add_risk_factors(rnd.RiskFactor());
    ASSERT_GE(Level(r), before) << r.DebugString();
  }
}

// Any leg sign of a clot with a major risk factor is at least URGENT, and names the risk factor.
TEST_F(PropertyTest, ALegSignWithAMajorRiskFactorIsAtLeastUrgent) {
  Random rnd(53);
  const v1::SymptomKind kLegSigns[] = {
      v1::SYMPTOM_KIND_LEG_SWELLING,        v1::SYMPTOM_KIND_LEG_TENDERNESS,
      v1::SYMPTOM_KIND_LEG_WARMTH,          v1::SYMPTOM_KIND_LEG_REDNESS,
      v1::SYMPTOM_KIND_PERSISTENT_LEG_PAIN, v1::SYMPTOM_KIND_PAINFUL_HARD_VEIN,
      v1::SYMPTOM_KIND_MUSCLE_CRAMP};
  const v1::RiskFactor kMajor[] = {
      v1::RISK_FACTOR_PREVIOUS_VTE, v1::RISK_FACTOR_KNOWN_THROMBOPHILIA,
      v1::RISK_FACTOR_RECENT_SURGERY, v1::RISK_FACTOR_IMMOBILITY_OR_LONG_TRAVEL};
  for (int i = 0; i < kIterations; ++i) {
    v1::AssessLegSymptomsRequest r = rnd.Request();
    v1::Symptom* s = r.add_symptoms();
    *s = rnd.Symptom();
    s->set_kind(kLegSigns[rnd.Int(0, std::size(kLegSigns) - 1)]);
    const v1::RiskFactor major = kMajor[rnd.Int(0, std::size(kMajor) - 1)];
    r.add_risk_factors(major);
    const v1::AssessLegSymptomsResponse a = engine_->Assess(r);
    ASSERT_GE(a.urgency(), v1::URGENCY_URGENT) << r.DebugString();
    if (a.urgency() == v1::URGENCY_URGENT) {
      bool named = false;
      for (const auto& h : a.rule_hits()) {
        named |= std::find(h.risk_factors().begin(), h.risk_factors().end(), major) !=
                 h.risk_factors().end();
      }
      ASSERT_TRUE(named) << r.DebugString();
    }
  }
}

TEST_F(PropertyTest, GrowingAReportSymptomBySymptomNeverLowersTheUrgency) {
  Random rnd(99);
  for (int i = 0; i < kIterations / 5; ++i) {
    v1::AssessLegSymptomsRequest r = rnd.Request();
    r.clear_symptoms();
    v1::Urgency last = v1::URGENCY_UNSPECIFIED;
    for (int k = 0; k < kMaxSymptoms; ++k) {
      *r.add_symptoms() = rnd.Symptom();
      const v1::Urgency now = Level(r);
      ASSERT_GE(now, last) << r.DebugString();
      last = now;
    }
  }
}

TEST_F(PropertyTest, UnknownSideIsNeverLessUrgentThanAKnownSide) {
  Random rnd(31337);
  for (int i = 0; i < kIterations; ++i) {
    v1::AssessLegSymptomsRequest r = rnd.Request();
    const int k = rnd.Int(0, r.symptoms_size() - 1);
    r.mutable_symptoms(k)->set_side(v1::SIDE_UNSPECIFIED);
    const v1::Urgency unknown = Level(r);
    for (v1::Side side : {v1::SIDE_LEFT, v1::SIDE_RIGHT, v1::SIDE_BOTH}) {
      r.mutable_symptoms(k)->set_side(side);
      ASSERT_GE(unknown, Level(r)) << r.DebugString();
    }
  }
}

TEST_F(PropertyTest, UnknownWeeksAreNeverLessUrgentThanKnownWeeks) {
  Random rnd(4242);
  for (int i = 0; i < kIterations / 10; ++i) {
    v1::AssessLegSymptomsRequest r = rnd.Request();
    r.clear_pregnancy();
    const v1::Urgency unknown = Level(r);
    for (int w = 1; w <= 45; ++w) {
      r.mutable_pregnancy()->set_gestational_age_weeks(w);
      ASSERT_GE(unknown, Level(r)) << r.DebugString();
    }
    r.mutable_pregnancy()->set_gestational_age_weeks(0);
    for (int w = 1; w <= 52; ++w) {
      r.mutable_pregnancy()->set_postpartum_weeks(w);
      ASSERT_GE(unknown, Level(r)) << r.DebugString();
    }
  }
}

TEST_F(PropertyTest, SameReportInAnyOrderGivesTheSameAnswer) {
  Random rnd(12345);
  for (int i = 0; i < kIterations; ++i) {
    v1::AssessLegSymptomsRequest r = rnd.Request();
    const v1::AssessLegSymptomsResponse first = engine_->Assess(r);
    const v1::AssessLegSymptomsResponse again = engine_->Assess(r);
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, again));
    std::shuffle(r.mutable_symptoms()->pointer_begin(), r.mutable_symptoms()->pointer_end(),
                 rnd.gen());
    const v1::AssessLegSymptomsResponse shuffled = engine_->Assess(r);
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, shuffled))
        << r.DebugString();
    // A fresh engine over a freshly loaded table agrees too.
    if (i % 500 == 0) {
      TriageEngine other(*RuleTable::Builtin());
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, other.Assess(r)));
    }
  }
}

TEST_F(PropertyTest, EveryAnswerIsWellFormed) {
  Random rnd(2718);
  for (int i = 0; i < kIterations; ++i) {
    const v1::AssessLegSymptomsRequest r = rnd.Request();
    const v1::AssessLegSymptomsResponse a = engine_->Assess(r);
    ASSERT_GE(a.urgency(), v1::URGENCY_SELF_CARE);
    ASSERT_FALSE(a.rule_hits().empty());
    ASSERT_EQ(a.rule_hits(0).urgency(), a.urgency());
    for (int h = 1; h < a.rule_hits_size(); ++h) {
      ASSERT_LE(a.rule_hits(h).urgency(), a.rule_hits(h - 1).urgency());  // most urgent first
    }
    ASSERT_FALSE(a.suspected_conditions().empty());
    ASSERT_LT(testing::CodePoints(a.summary()), 140u) << a.summary();
    bool dvt = false;
    for (const auto& c : a.suspected_conditions()) {
      dvt |= c.condition() == v1::CONDITION_DEEP_VEIN_THROMBOSIS;
    }
    ASSERT_EQ(a.left_score().evaluated(), dvt);
    // Cramp or restless-legs self-care is never offered next to a red flag.
    if (a.urgency() >= v1::URGENCY_URGENT) {
      for (const auto& c : a.suspected_conditions()) {
        ASSERT_NE(c.condition(), v1::CONDITION_LEG_CRAMPS) << r.DebugString();
        ASSERT_NE(c.condition(), v1::CONDITION_RESTLESS_LEGS_SYNDROME) << r.DebugString();
        ASSERT_NE(c.condition(), v1::CONDITION_PREGNANCY_OEDEMA) << r.DebugString();
      }
    }
  }
}

}  // namespace
}  // namespace legwise::triage
