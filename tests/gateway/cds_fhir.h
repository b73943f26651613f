// FHIR R4 resources for the CDS Hooks tests, shaped after the examples of the CDS Hooks 2.0
// specification (patient-view request with prefetch) and FHIR R4 (Observation "blood-pressure"
// vital-signs example, Condition with bodySite and clinicalStatus).
#ifndef LEGWISE_TESTS_GATEWAY_CDS_FHIR_H_
#define LEGWISE_TESTS_GATEWAY_CDS_FHIR_H_

#include <string>

#include "absl/strings/str_cat.h"

namespace legwise::testing {

inline std::string FhirPatient(const std::string& birth_date = "1988-03-14") {
  return absl::StrCat(R"({"resourceType": "Patient", "id": "1288992", "active": true,
    "gender": "female", "birthDate": ")",
                      birth_date, R"("})");
}

inline std::string FhirBloodPressure(int sys, int dia, const std::string& when) {
  return absl::StrCat(
      R"({"resource": {"resourceType": "Observation", "id": "blood-pressure",
    "status": "final",
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
      "code": "vital-signs", "display": "Vital Signs"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9",
      "display": "Blood pressure panel with all children optional"}], "text": "Blood pressure systolic & diastolic"},
    "subject": {"reference": "Patient/1288992"},
    "effectiveDateTime": ")",
      when, R"(",
    "component": [
      {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic blood pressure"}]},
       "valueQuantity": {"value": )",
      sys, R"(, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
      {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4", "display": "Diastolic blood pressure"}]},
       "valueQuantity": {"value": )",
      dia, R"(, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}})");
}

inline std::string FhirGestationalAge(double weeks, const std::string& when) {
  return absl::StrCat(R"({"resource": {"resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "49051-6",
      "display": "Gestational age in weeks"}]},
    "subject": {"reference": "Patient/1288992"}, "effectiveDateTime": ")",
                      when, R"(",
    "valueQuantity": {"value": )",
                      weeks,
                      R"(, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk"}}})");
}

inline std::string FhirTemperature(double value, const std::string& ucum, const std::string& when) {
  return absl::StrCat(R"({"resource": {"resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"}]},
    "effectiveDateTime": ")",
                      when, R"(",
    "valueQuantity": {"value": )",
                      value, R"(, "system": "http://unitsofmeasure.org", "code": ")", ucum,
                      R"("}}})");
}

// A Condition; `body_site` is a SNOMED CT body structure code or "".
inline std::string FhirCondition(const std::string& code, const std::string& display,
                                 const std::string& body_site = "",
                                 const std::string& clinical_status = "active") {
  std::string site;
  if (!body_site.empty()) {
    site =
        absl::StrCat(R"(, "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": ")",
                     body_site, R"("}]}])");
  }
  return absl::StrCat(R"({"resource": {"resourceType": "Condition",
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": ")",
                      clinical_status, R"("}]},
    "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": ")",
                      code, R"(", "display": ")", display, R"("}]},
    "subject": {"reference": "Patient/1288992"})",
                      site, "}}");
}

inline std::string FhirBundle(const std::vector<std::string>& entries) {
  std::string joined;
  for (size_t i = 0; i < entries.size(); ++i) absl::StrAppend(&joined, i ? "," : "", entries[i]);
  return absl::StrCat(R"({"resourceType": "Bundle", "type": "searchset", "entry": [)", joined,
                      "]}");
}

// A patient-view request as in the CDS Hooks 2.0 specification's example.
inline std::string CdsRequest(const std::string& prefetch_fields,
                              const std::string& hook = "patient-view") {
  return absl::StrCat(R"({"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "fhirServer": "http://hooks.smarthealthit.org:9080", "hook": ")",
                      hook, R"(",
    "context": {"userId": "Practitioner/example", "patientId": "1288992", "encounterId": "89284"},
    "prefetch": {)",
                      prefetch_fields, "}}");
}

}  // namespace legwise::testing

#endif  // LEGWISE_TESTS_GATEWAY_CDS_FHIR_H_
