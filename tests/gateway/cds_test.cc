// CDS Hooks pieces without processes: the mapping table, the FHIR R4 prefetch mapping (resources
// shaped after the specification's examples), and the cards built from an assessment.
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "services/gateway/cds/cds_service.h"
#include "services/gateway/cds/fhir_mapping.h"
#include "tests/gateway/cds_fhir.h"

namespace legwise::gateway {
namespace {

namespace tv1 = triage::v1;
using testing::FhirBloodPressure;
using testing::FhirBundle;
using testing::FhirCondition;
using testing::FhirGestationalAge;
using testing::FhirPatient;
using testing::FhirTemperature;

FhirMappingTable Table() {
  auto t = FhirMappingTable::Parse(BuiltinFhirMappingText());
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

google::protobuf::Struct Prefetch(const std::string& fields) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage("{" + fields + "}", &s).ok()) << fields;
  return s;
}

absl::Time Now() {
  absl::Time t;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, "2026-12-02T10:00:00Z", &t, nullptr));
  return t;
}

TEST(FhirMapping, TableHasTheIssuesCodesAndRejectsBadRows) {
  FhirMappingTable t = Table();
  const std::vector<std::pair<std::string, tv1::SymptomKind>> expected = {
      {"55300003", tv1::SYMPTOM_KIND_MUSCLE_CRAMP},
      {"25064002", tv1::SYMPTOM_KIND_SEVERE_HEADACHE},
      {"267036007", tv1::SYMPTOM_KIND_SHORTNESS_OF_BREATH},
      {"29857009", tv1::SYMPTOM_KIND_CHEST_PAIN},
      {"386661006", tv1::SYMPTOM_KIND_FEVER},
      {"3424008", tv1::SYMPTOM_KIND_FAST_HEARTBEAT},
      {"271594007", tv1::SYMPTOM_KIND_FAINTING},
      {"66857006", tv1::SYMPTOM_KIND_COUGHING_BLOOD},
      {"286933003", tv1::SYMPTOM_KIND_CONFUSION},
      {"32914008", tv1::SYMPTOM_KIND_URGE_TO_MOVE_LEGS},
      {"449615005", tv1::SYMPTOM_KIND_LEG_SWELLING},
  };
  for (const auto& [code, kind] : expected) {
    const FindingMapping* m = t.Finding(code);
    ASSERT_NE(m, nullptr) << code;
    EXPECT_EQ(m->kinds[0], kind) << code;
  }
  EXPECT_EQ(t.Finding("32914008")->kinds.size(), 4u);  // the four IRLSSG criteria
  EXPECT_FALSE(FhirMappingTable::Parse("finding\t1\tx\tSYMPTOM_KIND_NOPE\t-\ts\n").ok());
  EXPECT_FALSE(FhirMappingTable::Parse("finding\tabc\tx\tSYMPTOM_KIND_FEVER\t-\ts\n").ok());
  EXPECT_FALSE(FhirMappingTable::Parse("finding\t1\tx\tSYMPTOM_KIND_FEVER\n").ok());
  // A row must say where its code was checked (or that it was not).
  EXPECT_TRUE(FhirMappingTable::Parse("finding\t1\tx\tSYMPTOM_KIND_FEVER\t-\tUNCONFIRMED\n").ok());
  EXPECT_FALSE(FhirMappingTable::Parse("finding\t1\tx\tSYMPTOM_KIND_FEVER\t-\t\n").ok());
  EXPECT_FALSE(FhirMappingTable::Parse("finding\t1\tx\tSYMPTOM_KIND_FEVER\t-\t  \n").ok());
  EXPECT_FALSE(
      FhirMappingTable::Parse(
          "finding\t1\tx\tSYMPTOM_KIND_FEVER\t-\ts\nfinding\t1\tx\tSYMPTOM_KIND_FEVER\t-\ts\n")
          .ok());
}

TEST(FhirMapping, MapsVitalsPregnancyAndFindingsWithLaterality) {
  std::string fields =
      absl::StrCat(R"("patient": )", FhirPatient("1988-03-14"), R"(, "observations": )",
                   FhirBundle({FhirBloodPressure(150, 95, "2026-12-01T09:00:00Z"),
                               FhirBloodPressure(118, 70, "2026-11-01T09:00:00Z"),
                               FhirGestationalAge(30, "2026-11-18T09:00:00Z"),
                               FhirTemperature(100.4, "[degF]", "2026-12-02T08:00:00Z")}),
                   R"(, "conditions": )",
                   FhirBundle({FhirCondition("449615005", "Swelling of lower leg", "32153003"),
                               FhirCondition("55300003", "Cramp", "53840002"),
                               FhirCondition("29857009", "Chest pain", "", "resolved"),
                               FhirCondition("38341003", "Hypertensive disorder"),
                               FhirCondition("247348008", "Tenderness")}));
  MappedPrefetch m = MapPrefetch(Prefetch(fields), Table(), Now());
  const tv1::AssessLegSymptomsRequest& r = m.request;
  // The latest panel, not the older one.
  EXPECT_EQ(r.measurements().systolic_bp_mmhg(), 150);
  EXPECT_EQ(r.measurements().diastolic_bp_mmhg(), 95);
  EXPECT_NEAR(r.measurements().temperature_c(), 38.0, 0.01);
  // 30 weeks on 18 Nov is 32 weeks on 2 Dec.
  EXPECT_EQ(r.pregnancy().gestational_age_weeks(), 32);
  EXPECT_EQ(r.pregnancy().postpartum_weeks(), 0);
  ASSERT_EQ(r.symptoms_size(), 2);  // the resolved chest pain is not active
  EXPECT_EQ(r.symptoms(0).kind(), tv1::SYMPTOM_KIND_LEG_SWELLING);
  EXPECT_EQ(r.symptoms(0).side(), tv1::SIDE_LEFT);
  EXPECT_EQ(r.symptoms(0).site(), tv1::BODY_SITE_WHOLE_LEG);
  EXPECT_EQ(r.symptoms(1).kind(), tv1::SYMPTOM_KIND_MUSCLE_CRAMP);
  EXPECT_EQ(r.symptoms(1).site(), tv1::BODY_SITE_CALF);
  EXPECT_EQ(r.symptoms(1).side(), tv1::SIDE_UNSPECIFIED);
  ASSERT_EQ(r.risk_factors_size(), 1);  // 38 years old
  EXPECT_EQ(r.risk_factors(0), tv1::RISK_FACTOR_AGE_35_OR_MORE);
  ASSERT_EQ(m.unmapped.size(), 2u);
  EXPECT_TRUE(absl::StrContains(m.unmapped[0], "38341003"));
  EXPECT_TRUE(absl::StrContains(m.unmapped[1], "without a leg body site"));
  EXPECT_TRUE(m.missing.empty());
}

TEST(FhirMapping, SaysWhatIsMissingAndNeverGuesses) {
  MappedPrefetch m =
      MapPrefetch(Prefetch(absl::StrCat(R"("patient": null, "observations": )", FhirBundle({}),
                                        R"(, "conditions": )",
                                        FhirBundle({FhirCondition("267036007", "Dyspnea")}))),
                  Table(), Now());
  EXPECT_FALSE(m.request.has_measurements());
  EXPECT_FALSE(m.request.has_pregnancy());
  ASSERT_EQ(m.request.symptoms_size(), 1);
  EXPECT_TRUE(m.request.symptoms(0).sudden_onset());  // the dangerous reading, said in notes
  ASSERT_EQ(m.notes.size(), 1u);
  EXPECT_TRUE(absl::StrContains(m.notes[0], "sudden"));
  std::string all;
  for (const auto& s : m.missing) all += s + "\n";
  EXPECT_TRUE(absl::StrContains(all, "patient")) << all;
  EXPECT_TRUE(absl::StrContains(all, "blood pressure")) << all;
  EXPECT_TRUE(absl::StrContains(all, "temperature")) << all;
  EXPECT_TRUE(absl::StrContains(all, "gestational age")) << all;

  // Implausible values are not used.
  m = MapPrefetch(Prefetch(absl::StrCat(R"("observations": )",
                                        FhirBundle({FhirBloodPressure(80, 120, "2026-12-01"),
                                                    FhirTemperature(55, "Cel", "2026-12-01")}),
                                        R"(, "conditions": )", FhirBundle({}))),
                  Table(), Now());
  EXPECT_FALSE(m.request.has_measurements());
  EXPECT_EQ(m.notes.size(), 2u);
  // No conditions prefetch at all.
  m = MapPrefetch(Prefetch(R"("patient": {"resourceType": "Patient", "birthDate": "1980-01-01"})"),
                  Table(), Now());
  EXPECT_FALSE(m.has_conditions_prefetch);
  EXPECT_EQ(m.request.risk_factors(0), tv1::RISK_FACTOR_AGE_35_OR_MORE);
  // 34 the day before her 35th birthday.
  m = MapPrefetch(Prefetch(R"("patient": {"resourceType": "Patient", "birthDate": "1991-12-03"})"),
                  Table(), Now());
  EXPECT_EQ(m.request.risk_factors_size(), 0);
}

TEST(FhirMapping, DeliveryDateMakesHerPostpartum) {
  MappedPrefetch m =
      MapPrefetch(Prefetch(absl::StrCat(
                      R"("observations": )",
                      FhirBundle({FhirGestationalAge(39, "2026-10-01T00:00:00Z"),
                                  R"({"resource": {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "93857-1"}]},
                          "effectiveDateTime": "2026-10-20", "valueDateTime": "2026-10-20"}})"}),
                      R"(, "conditions": )", FhirBundle({}))),
                  Table(), Now());
  EXPECT_EQ(m.request.pregnancy().gestational_age_weeks(), 0);
  EXPECT_EQ(m.request.pregnancy().postpartum_weeks(), 6);
}

TEST(CdsCards, IndicatorPerLevelSummaryAndLinks) {
  MappedPrefetch m;
  m.has_conditions_prefetch = true;
  m.missing.push_back("No body temperature.");
  m.unmapped.push_back("Hypertensive disorder (SNOMED CT 38341003)");
  const std::vector<std::pair<tv1::Urgency, std::string>> levels = {
      {tv1::URGENCY_EMERGENCY, "critical"},
      {tv1::URGENCY_URGENT, "critical"},
      {tv1::URGENCY_ROUTINE, "warning"},
      {tv1::URGENCY_SELF_CARE, "info"}};
  for (const auto& [u, indicator] : levels) {
    tv1::AssessLegSymptomsResponse a;
    a.set_urgency(u);
    a.set_summary(std::string(200, 'a') + "\xC3\xA9");  // too long, and ends in a 2-byte char
    a.set_rule_set_version("2026.11.1");
    auto* hit = a.add_rule_hits();
    hit->set_rule_id("pe.chest_pain");
    hit->set_urgency(u);
    hit->set_explanation("Chest pain can be a *blood clot*.");
    hit->add_sources("NHS PE");
    auto* sc = a.add_suspected_conditions();
    sc->set_condition(tv1::CONDITION_PULMONARY_EMBOLISM);
    sc->set_topic_id("blood-clot-warning-signs");
    cds::HookResponse r = CardsFor(m, &a, "https://api.example.org");
    ASSERT_EQ(r.cards_size(), 1);
    const cds::Card& c = r.cards(0);
    EXPECT_EQ(c.indicator(), indicator);
    EXPECT_LT(c.summary().size(), 140u);
    EXPECT_TRUE(absl::StrContains(c.detail(), "`pe.chest_pain`"));
    EXPECT_TRUE(absl::StrContains(c.detail(), "NHS PE"));
    EXPECT_TRUE(absl::StrContains(c.detail(), "\\*blood clot\\*"));  // escaped, not markup
    EXPECT_TRUE(absl::StrContains(c.detail(), "No body temperature."));
    EXPECT_TRUE(absl::StrContains(c.detail(), "38341003"));
    EXPECT_EQ(c.source().label(), "legwise triage, rule set 2026.11.1");
    ASSERT_EQ(c.links_size(), 1);
    EXPECT_EQ(c.links(0).url(),
              "https://api.example.org/v1/topics/blood-clot-warning-signs/guidance?locale=en");
    EXPECT_EQ(c.links(0).type(), "absolute");
    EXPECT_EQ(c.uuid().size(), 36u);
  }
  // Nothing to assess, conditions present: no cards. Conditions missing: a card saying so.
  EXPECT_EQ(CardsFor(m, nullptr, "https://x").cards_size(), 0);
  m.has_conditions_prefetch = false;
  cds::HookResponse r = CardsFor(m, nullptr, "https://x");
  ASSERT_EQ(r.cards_size(), 1);
  EXPECT_EQ(r.cards(0).indicator(), "info");
  EXPECT_TRUE(absl::StrContains(r.cards(0).summary(), "conditions prefetch is missing"));
}

TEST(CdsDiscovery, ServiceAndPrefetchTemplates) {
  cds::Discovery d = CdsDiscovery();
  ASSERT_GE(d.services_size(), 1);
  const cds::ServiceDescriptor& s = d.services(0);
  EXPECT_EQ(s.id(), "legwise-leg-symptoms");
  EXPECT_EQ(s.hook(), "patient-view");
  for (const char* key : {"patient", "observations", "conditions"}) {
    EXPECT_TRUE(s.prefetch().contains(key)) << key;
  }
  for (const char* loinc : {"85354-9", "8310-5", "49051-6", "11884-4", "18185-9", "93857-1"}) {
    EXPECT_TRUE(absl::StrContains(s.prefetch().at("observations"), loinc)) << loinc;
  }
}

}  // namespace
}  // namespace legwise::gateway
