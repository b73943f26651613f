#include "services/triage/engine/request_validation.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace legwise::triage {
namespace {

bool AllAlpha(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool AllAlnum(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// True when `v` is 0 (not given) or within [lo, hi]. NaN is never valid.
bool ZeroOrIn(float v, float lo, float hi) { return v == 0 || (v >= lo && v <= hi); }
bool ZeroOrIn(int v, int lo, int hi) { return v == 0 || (v >= lo && v <= hi); }

void CheckLocale(absl::string_view locale, FieldViolations* v) {
  if (locale.empty()) return;
  if (!IsWellFormedLanguageTag(locale)) {
    v->Add("locale", absl::StrCat("must be a well-formed BCP-47 language tag of at most ",
                                  kMaxLocaleLength, " characters, e.g. \"en\" or \"es-MX\""));
  }
}

}  // namespace

bool IsWellFormedLanguageTag(absl::string_view tag) {
  if (tag.empty() || tag.size() > static_cast<size_t>(kMaxLocaleLength)) return false;
  std::vector<absl::string_view> parts = absl::StrSplit(tag, '-');
  const absl::string_view lang = parts[0];
  if (!AllAlpha(lang) || lang.size() < 2 || lang.size() > 8 || lang.size() == 4) return false;
  for (size_t i = 1; i < parts.size(); ++i) {
    const absl::string_view p = parts[i];
    if (p.empty() || p.size() > 8 || !AllAlnum(p)) return false;
    // A singleton (extension or private use) must be followed by a subtag.
    if (p.size() == 1 && i + 1 == parts.size()) return false;
  }
  return true;
}

FieldViolations ValidateAssessRequest(const v1::AssessLegSymptomsRequest& request) {
  FieldViolations v;
  if (request.request_id().size() > static_cast<size_t>(kMaxRequestIdLength)) {
    v.Add("request_id", absl::StrCat("must be at most ", kMaxRequestIdLength, " characters"));
  } else {
    for (char c : request.request_id()) {
      if (c < 0x20 || c > 0x7e) {
        v.Add("request_id", "must be printable ASCII");
        break;
      }
    }
  }

  const v1::PregnancyContext& p = request.pregnancy();
  if (!ZeroOrIn(p.gestational_age_weeks(), 1, 45)) {
    v.Add("pregnancy.gestational_age_weeks", "must be 0 (unknown) or 1..45");
  }
  if (!ZeroOrIn(p.postpartum_weeks(), 1, 52)) {
    v.Add("pregnancy.postpartum_weeks", "must be 0 (not postpartum) or 1..52");
  }
  if (p.gestational_age_weeks() != 0 && p.postpartum_weeks() != 0) {
    v.Add("pregnancy", "set gestational_age_weeks or postpartum_weeks, not both");
  }

  const int n = request.symptoms_size();
  if (n == 0) {
    v.Add("symptoms", "at least one symptom is required");
  } else if (n > kMaxSymptoms) {
    v.Add("symptoms", absl::StrCat("at most ", kMaxSymptoms, " symptoms"));
  } else {
    for (int i = 0; i < n; ++i) {
      const v1::Symptom& s = request.symptoms(i);
      const std::string path = absl::StrCat("symptoms[", i, "]");
      if (s.kind() == v1::SYMPTOM_KIND_UNSPECIFIED) {
        v.Add(absl::StrCat(path, ".kind"), "is required");
      } else if (!v1::SymptomKind_IsValid(s.kind())) {
        v.Add(absl::StrCat(path, ".kind"), "is not a known SymptomKind");
      }
      if (!v1::Side_IsValid(s.side())) v.Add(absl::StrCat(path, ".side"), "is not a known Side");
      if (!v1::BodySite_IsValid(s.site())) {
        v.Add(absl::StrCat(path, ".site"), "is not a known BodySite");
      }
      if (!ZeroOrIn(s.severity(), 1, 10)) {
        v.Add(absl::StrCat(path, ".severity"), "must be 0 (not given) or 1..10");
      }
    }
  }

  const v1::Measurements& m = request.measurements();
  if (!ZeroOrIn(m.calf_circumference_difference_cm(), 0.1f, 20.0f)) {
    v.Add("measurements.calf_circumference_difference_cm", "must be 0 (not measured) or 0.1..20");
  }
  if (!ZeroOrIn(m.systolic_bp_mmhg(), 50, 300)) {
    v.Add("measurements.systolic_bp_mmhg", "must be 0 (not measured) or 50..300");
  }
  if (!ZeroOrIn(m.diastolic_bp_mmhg(), 20, 200)) {
    v.Add("measurements.diastolic_bp_mmhg", "must be 0 (not measured) or 20..200");
  }
  if (!ZeroOrIn(m.temperature_c(), 30.0f, 45.0f)) {
    v.Add("measurements.temperature_c", "must be 0 (not measured) or 30..45");
  }
  // A reading whose diastolic is not below its systolic is a swapped or mistyped pair: refuse it
  // rather than guess which value is wrong.
  // (Checked only when each value is in range on its own; otherwise that is the problem named.)
  if (m.systolic_bp_mmhg() != 0 && m.diastolic_bp_mmhg() != 0 &&
      ZeroOrIn(m.systolic_bp_mmhg(), 50, 300) && ZeroOrIn(m.diastolic_bp_mmhg(), 20, 200) &&
      m.diastolic_bp_mmhg() >= m.systolic_bp_mmhg()) {
    const std::string kWhy =
        "diastolic_bp_mmhg must be below systolic_bp_mmhg (are the two values swapped?)";
    v.Add("measurements.systolic_bp_mmhg", kWhy);
    v.Add("measurements.diastolic_bp_mmhg", kWhy);
  }

  if (request.risk_factors_size() > kMaxRiskFactors) {
    v.Add("risk_factors", absl::StrCat("at most ", kMaxRiskFactors, " risk factors"));
  } else {
    for (int i = 0; i < request.risk_factors_size(); ++i) {
      const int r = request.risk_factors(i);
      if (r == v1::RISK_FACTOR_UNSPECIFIED) {
        v.Add(absl::StrCat("risk_factors[", i, "]"), "is required (RISK_FACTOR_UNSPECIFIED)");
      } else if (!v1::RiskFactor_IsValid(r)) {
        v.Add(absl::StrCat("risk_factors[", i, "]"), "is not a known RiskFactor");
      }
    }
  }

  CheckLocale(request.locale(), &v);
  return v;
}

FieldViolations ValidateGetRuleSetRequest(const v1::GetRuleSetRequest& request) {
  FieldViolations v;
  CheckLocale(request.locale(), &v);
  return v;
}

}  // namespace legwise::triage
