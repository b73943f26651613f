// Every bad-input case of the contract gets a field violation naming the path; good input gets
// none.
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "services/triage/engine/request_validation.h"
#include "tests/triage/test_util.h"

namespace legwise::triage {
namespace {

using testing::AddSymptoms;

v1::AssessLegSymptomsRequest Valid() {
  v1::AssessLegSymptomsRequest r;
  AddSymptoms("cramp:L swell:B@4 sob!", &r);
  r.set_request_id("abc-123");
  r.mutable_pregnancy()->set_gestational_age_weeks(30);
  r.mutable_measurements()->set_systolic_bp_mmhg(120);
  r.mutable_measurements()->set_diastolic_bp_mmhg(80);
  r.mutable_measurements()->set_calf_circumference_difference_cm(0.1f);
  r.mutable_measurements()->set_temperature_c(36.8f);
  r.set_locale("es-MX");
  return r;
}

std::vector<std::string> Paths(const v1::AssessLegSymptomsRequest& r) {
  std::vector<std::string> out;
  const FieldViolations violations = ValidateAssessRequest(r);
  for (const auto& v : violations.violations()) out.push_back(v.field);
  return out;
}

using Paths_ = std::vector<std::string>;

TEST(ValidationTest, AValidRequestHasNoViolation) {
  EXPECT_TRUE(Paths(Valid()).empty());
  v1::AssessLegSymptomsRequest minimal;
  AddSymptoms("cramp", &minimal);
  EXPECT_TRUE(Paths(minimal).empty());
}

TEST(ValidationTest, NoSymptoms) {
  auto r = Valid();
  r.clear_symptoms();
  EXPECT_EQ(Paths(r), Paths_{"symptoms"});
}

TEST(ValidationTest, TooManySymptoms) {
  auto r = Valid();
  r.clear_symptoms();
  for (int i = 0; i < kMaxSymptoms; ++i) AddSymptoms("cramp:L", &r);
  EXPECT_TRUE(Paths(r).empty());
  AddSymptoms("cramp:L", &r);
  EXPECT_EQ(Paths(r), Paths_{"symptoms"});
}

TEST(ValidationTest, UnspecifiedOrUnknownKind) {
  auto r = Valid();
  r.mutable_symptoms(1)->set_kind(v1::SYMPTOM_KIND_UNSPECIFIED);
  r.mutable_symptoms(2)->set_kind(static_cast<v1::SymptomKind>(999));
  EXPECT_EQ(Paths(r), (Paths_{"symptoms[1].kind", "symptoms[2].kind"}));
}

TEST(ValidationTest, UnknownSideAndSiteNumbers) {
  auto r = Valid();
  r.mutable_symptoms(0)->set_side(static_cast<v1::Side>(7));
  r.mutable_symptoms(2)->set_site(static_cast<v1::BodySite>(-1));
  EXPECT_EQ(Paths(r), (Paths_{"symptoms[0].side", "symptoms[2].site"}));
}

TEST(ValidationTest, SeverityOutOfRange) {
  for (int bad : {-1, 11, 1000}) {
    auto r = Valid();
    r.mutable_symptoms(2)->set_severity(bad);
    EXPECT_EQ(Paths(r), Paths_{"symptoms[2].severity"}) << bad;
  }
  for (int good : {0, 1, 10}) {
    auto r = Valid();
    r.mutable_symptoms(2)->set_severity(good);
    EXPECT_TRUE(Paths(r).empty()) << good;
  }
}

TEST(ValidationTest, PregnancyOutOfRangeOrBothSet) {
  auto r = Valid();
  r.mutable_pregnancy()->set_gestational_age_weeks(46);
  EXPECT_EQ(Paths(r), Paths_{"pregnancy.gestational_age_weeks"});
  r.mutable_pregnancy()->set_gestational_age_weeks(-3);
  EXPECT_EQ(Paths(r), Paths_{"pregnancy.gestational_age_weeks"});
  r.mutable_pregnancy()->set_gestational_age_weeks(0);
  r.mutable_pregnancy()->set_postpartum_weeks(53);
  EXPECT_EQ(Paths(r), Paths_{"pregnancy.postpartum_weeks"});
  r.mutable_pregnancy()->set_postpartum_weeks(52);
  EXPECT_TRUE(Paths(r).empty());
  r.mutable_pregnancy()->set_gestational_age_weeks(30);
  EXPECT_EQ(Paths(r), Paths_{"pregnancy"});
}

TEST(ValidationTest, MeasurementsOutOfRange) {
  struct Case {
    void (*set)(v1::Measurements*);
    const char* path;
  };
  const Case cases[] = {
      {[](v1::Measurements* m) { m->set_calf_circumference_difference_cm(-1); },
       "measurements.calf_circumference_difference_cm"},
      {[](v1::Measurements* m) { m->set_calf_circumference_difference_cm(0.05f); },
       "measurements.calf_circumference_difference_cm"},
      {[](v1::Measurements* m) { m->set_calf_circumference_difference_cm(20.5f); },
       "measurements.calf_circumference_difference_cm"},
      {[](v1::Measurements* m) {
         m->set_calf_circumference_difference_cm(std::numeric_limits<float>::quiet_NaN());
       },
       "measurements.calf_circumference_difference_cm"},
      {[](v1::Measurements* m) { m->set_systolic_bp_mmhg(49); }, "measurements.systolic_bp_mmhg"},
      {[](v1::Measurements* m) { m->set_systolic_bp_mmhg(301); }, "measurements.systolic_bp_mmhg"},
      {[](v1::Measurements* m) { m->set_diastolic_bp_mmhg(19); }, "measurements.diastolic_bp_mmhg"},
      {[](v1::Measurements* m) { m->set_diastolic_bp_mmhg(201); },
       "measurements.diastolic_bp_mmhg"},
      {[](v1::Measurements* m) { m->set_temperature_c(29.9f); }, "measurements.temperature_c"},
      {[](v1::Measurements* m) { m->set_temperature_c(45.1f); }, "measurements.temperature_c"},
      {[](v1::Measurements* m) { m->set_temperature_c(std::numeric_limits<float>::infinity()); },
       "measurements.temperature_c"},
  };
  for (const Case& c : cases) {
    auto r = Valid();
    c.set(r.mutable_measurements());
    EXPECT_EQ(Paths(r), Paths_{c.path});
  }
}

// A diastolic at or above the systolic is a swapped or mistyped pair: both fields are named.
TEST(ValidationTest, DiastolicNotBelowSystolic) {
  for (std::pair<int, int> bp : {std::pair{80, 120}, {120, 120}, {90, 140}, {110, 110}}) {
    auto r = Valid();
    r.mutable_measurements()->set_systolic_bp_mmhg(bp.first);
    r.mutable_measurements()->set_diastolic_bp_mmhg(bp.second);
    EXPECT_EQ(Paths(r), (Paths_{"measurements.systolic_bp_mmhg", "measurements.diastolic_bp_mmhg"}))
        << bp.first << "/" << bp.second;
  }
  // One value alone is allowed (either can be given without the other).
  auto r = Valid();
  r.mutable_measurements()->set_systolic_bp_mmhg(0);
  r.mutable_measurements()->set_diastolic_bp_mmhg(115);
  EXPECT_TRUE(Paths(r).empty());
  r.mutable_measurements()->set_systolic_bp_mmhg(121);
  r.mutable_measurements()->set_diastolic_bp_mmhg(120);
  EXPECT_TRUE(Paths(r).empty());
}

TEST(ValidationTest, RiskFactors) {
  auto r = Valid();
  r.add_risk_factors(v1::RISK_FACTOR_PREVIOUS_VTE);
  r.add_risk_factors(v1::RISK_FACTOR_PREVIOUS_VTE);  // a repeat is allowed (counts once)
  EXPECT_TRUE(Paths(r).empty());
  r.add_risk_factors(v1::RISK_FACTOR_UNSPECIFIED);
  r.add_risk_factors(static_cast<v1::RiskFactor>(999));
  EXPECT_EQ(Paths(r), (Paths_{"risk_factors[2]", "risk_factors[3]"}));
  r.clear_risk_factors();
  for (int i = 0; i <= kMaxRiskFactors; ++i) r.add_risk_factors(v1::RISK_FACTOR_SMOKING);
  EXPECT_EQ(Paths(r), Paths_{"risk_factors"});
}

TEST(ValidationTest, RequestIdTooLongOrNotPrintable) {
  auto r = Valid();
  r.set_request_id(std::string(kMaxRequestIdLength, 'a'));
  EXPECT_TRUE(Paths(r).empty());
  r.set_request_id(std::string(kMaxRequestIdLength + 1, 'a'));
  EXPECT_EQ(Paths(r), Paths_{"request_id"});
  r.set_request_id("line\nbreak");
  EXPECT_EQ(Paths(r), Paths_{"request_id"});
}

TEST(ValidationTest, Locale) {
  for (const char* good : {"en", "es", "es-MX", "es-419", "en-US", "zh-Hant-TW", "sr-Latn-RS",
                           "de-CH-1996", "en-US-x-twain", "EN"}) {
    EXPECT_TRUE(IsWellFormedLanguageTag(good)) << good;
    auto r = Valid();
    r.set_locale(good);
    EXPECT_TRUE(Paths(r).empty()) << good;
  }
  for (const char* bad : {"e", "englishlanguage", "en_US", "en-", "-en", "en--US", "12", "en-US-x",
                          "e\xc3\xb1", "en US", "abcd"}) {
    EXPECT_FALSE(IsWellFormedLanguageTag(bad)) << bad;
    auto r = Valid();
    r.set_locale(bad);
    EXPECT_EQ(Paths(r), Paths_{"locale"}) << bad;
  }
  EXPECT_FALSE(IsWellFormedLanguageTag(std::string(36, 'a')));
  EXPECT_TRUE(IsWellFormedLanguageTag("en-aaaaaaaa-bbbbbbbb-cccccccc-ddddd"));  // exactly 35
  v1::GetRuleSetRequest g;
  g.set_locale("en_US");
  EXPECT_EQ(ValidateGetRuleSetRequest(g).size(), 1u);
  g.set_locale("es");
  EXPECT_TRUE(ValidateGetRuleSetRequest(g).empty());
}

TEST(ValidationTest, EveryProblemIsReportedAtOnce) {
  auto r = Valid();
  r.mutable_symptoms(0)->set_kind(v1::SYMPTOM_KIND_UNSPECIFIED);
  r.mutable_symptoms(2)->set_severity(12);
  r.mutable_pregnancy()->set_postpartum_weeks(3);
  r.mutable_measurements()->set_systolic_bp_mmhg(10);
  r.set_locale("??");
  EXPECT_EQ(Paths(r), (Paths_{"pregnancy", "symptoms[0].kind", "symptoms[2].severity",
                              "measurements.systolic_bp_mmhg", "locale"}));
  // The status form is INVALID_ARGUMENT with the same violations.
  const absl::Status s = ValidateAssessRequest(r).ToStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetFieldViolations(s).size(), 5u);
}

TEST(ValidationTest, DescriptionsNeverEchoTheValue) {
  auto r = Valid();
  r.mutable_symptoms(0)->set_severity(77);
  r.set_locale("zz_secret");
  const FieldViolations violations = ValidateAssessRequest(r);
  ASSERT_EQ(violations.size(), 2u);
  for (const auto& v : violations.violations()) {
    EXPECT_EQ(v.description.find("77"), std::string::npos);
    EXPECT_EQ(v.description.find("secret"), std::string::npos);
  }
}

}  // namespace
}  // namespace legwise::triage
