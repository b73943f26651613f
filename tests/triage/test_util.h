// Helpers shared by the triage tests: a compact way to write reports in vignettes and in the
// warning-sign vocabulary ("swell:L tender:L sob!" = leg swelling left, tenderness left, sudden
// shortness of breath; "w32" / "pp3" / "?" pregnancy context; "bp=145/92 t=38.5 rf=vte" extras).
#ifndef LEGWISE_TESTS_TRIAGE_TEST_UTIL_H_
#define LEGWISE_TESTS_TRIAGE_TEST_UTIL_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "legwise/triage/v1/triage.pb.h"

namespace legwise::triage::testing {

// Short names of the symptom kinds used in vignettes.
inline v1::SymptomKind KindFromShortName(absl::string_view name) {
  static const std::pair<absl::string_view, v1::SymptomKind> kNames[] = {
      {"cramp", v1::SYMPTOM_KIND_MUSCLE_CRAMP},
      {"pain", v1::SYMPTOM_KIND_PERSISTENT_LEG_PAIN},
      {"swell", v1::SYMPTOM_KIND_LEG_SWELLING},
      {"tender", v1::SYMPTOM_KIND_LEG_TENDERNESS},
      {"warm", v1::SYMPTOM_KIND_LEG_WARMTH},
      {"red", v1::SYMPTOM_KIND_LEG_REDNESS},
      {"vein", v1::SYMPTOM_KIND_PAINFUL_HARD_VEIN},
      {"urge", v1::SYMPTOM_KIND_URGE_TO_MOVE_LEGS},
      {"rest", v1::SYMPTOM_KIND_WORSE_AT_REST},
      {"move", v1::SYMPTOM_KIND_RELIEVED_BY_MOVEMENT},
      {"evening", v1::SYMPTOM_KIND_WORSE_IN_EVENING},
      {"sleep", v1::SYMPTOM_KIND_SLEEP_DISRUPTION},
      {"chest", v1::SYMPTOM_KIND_CHEST_PAIN},
      {"sob", v1::SYMPTOM_KIND_SHORTNESS_OF_BREATH},
      {"blood", v1::SYMPTOM_KIND_COUGHING_BLOOD},
      {"fastheart", v1::SYMPTOM_KIND_FAST_HEARTBEAT},
      {"faint", v1::SYMPTOM_KIND_FAINTING},
      {"headache", v1::SYMPTOM_KIND_SEVERE_HEADACHE},
      {"vision", v1::SYMPTOM_KIND_VISION_CHANGES},
      {"face", v1::SYMPTOM_KIND_FACE_OR_HAND_SWELLING},
      {"ribs", v1::SYMPTOM_KIND_UPPER_ABDOMINAL_PAIN},
      {"vomit", v1::SYMPTOM_KIND_VOMITING},
      {"confusion", v1::SYMPTOM_KIND_CONFUSION},
      {"numb", v1::SYMPTOM_KIND_NUMBNESS_OR_WEAKNESS},
      {"cold", v1::SYMPTOM_KIND_COLD_OR_PALE_LEG},
      {"fever", v1::SYMPTOM_KIND_FEVER},
      {"tingle", v1::SYMPTOM_KIND_LEG_NUMBNESS},
      {"weak", v1::SYMPTOM_KIND_LEG_WEAKNESS},
      {"unwell", v1::SYMPTOM_KIND_FEELING_VERY_UNWELL},
      {"nofluids", v1::SYMPTOM_KIND_CANNOT_KEEP_FLUIDS_DOWN},
      {"fit", v1::SYMPTOM_KIND_SEIZURE},
  };
  for (const auto& [n, k] : kNames) {
    if (n == name) return k;
  }
  ADD_FAILURE() << "unknown symptom short name " << name;
  return v1::SYMPTOM_KIND_UNSPECIFIED;
}

// Parses "kind[:L|R|B][!][@severity]" tokens separated by spaces into `request`'s symptoms.
// Side omitted = unknown; "!" = sudden onset.
inline void AddSymptoms(absl::string_view spec, v1::AssessLegSymptomsRequest* request) {
  for (absl::string_view token : absl::StrSplit(spec, ' ', absl::SkipEmpty())) {
    v1::Symptom* s = request->add_symptoms();
    if (size_t at = token.find('@'); at != absl::string_view::npos) {
      int severity = 0;
      EXPECT_TRUE(absl::SimpleAtoi(token.substr(at + 1), &severity)) << token;
      s->set_severity(severity);
      token = token.substr(0, at);
    }
    if (!token.empty() && token.back() == '!') {
      s->set_sudden_onset(true);
      token.remove_suffix(1);
    }
    if (size_t colon = token.find(':'); colon != absl::string_view::npos) {
      const absl::string_view side = token.substr(colon + 1);
      s->set_side(side == "L"   ? v1::SIDE_LEFT
                  : side == "R" ? v1::SIDE_RIGHT
                  : side == "B" ? v1::SIDE_BOTH
                                : v1::SIDE_UNSPECIFIED);
      token = token.substr(0, colon);
    }
    s->set_kind(KindFromShortName(token));
  }
}

inline v1::RiskFactor RiskFromShortName(absl::string_view s) {
  static const std::pair<absl::string_view, v1::RiskFactor> kNames[] = {
      {"vte", v1::RISK_FACTOR_PREVIOUS_VTE},
      {"thrombophilia", v1::RISK_FACTOR_KNOWN_THROMBOPHILIA},
      {"bmi30", v1::RISK_FACTOR_BMI_30_OR_MORE},
      {"ivf", v1::RISK_FACTOR_ASSISTED_CONCEPTION},
      {"surgery", v1::RISK_FACTOR_RECENT_SURGERY},
      {"immobile", v1::RISK_FACTOR_IMMOBILITY_OR_LONG_TRAVEL},
      {"smoking", v1::RISK_FACTOR_SMOKING},
      {"multiple", v1::RISK_FACTOR_MULTIPLE_PREGNANCY},
      {"age35", v1::RISK_FACTOR_AGE_35_OR_MORE},
  };
  for (const auto& [n, r] : kNames) {
    if (n == s) return r;
  }
  ADD_FAILURE() << "unknown risk factor short name " << s;
  return v1::RISK_FACTOR_UNSPECIFIED;
}

// "w32" = 32 weeks pregnant, "pp3" = 3 weeks after birth, "?" = unknown.
inline void ParseContext(absl::string_view s, v1::PregnancyContext* p) {
  int n = 0;
  if (s == "?") return;
  if (absl::ConsumePrefix(&s, "pp") && absl::SimpleAtoi(s, &n)) {
    p->set_postpartum_weeks(n);
  } else if (absl::ConsumePrefix(&s, "w") && absl::SimpleAtoi(s, &n)) {
    p->set_gestational_age_weeks(n);
  } else {
    ADD_FAILURE() << "bad context " << s;
  }
}

// "bp=145/92 t=38.5 calf=2.5 rf=vte,bmi30" or "-".
inline void ParseExtras(absl::string_view s, v1::AssessLegSymptomsRequest* r) {
  if (s == "-") return;
  for (absl::string_view token : absl::StrSplit(s, ' ', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(token, '=');
    v1::Measurements* m = r->mutable_measurements();
    float f = 0;
    int a = 0, b = 0;
    if (kv.first == "bp") {
      std::pair<absl::string_view, absl::string_view> ab = absl::StrSplit(kv.second, '/');
      EXPECT_TRUE(absl::SimpleAtoi(ab.first, &a) && absl::SimpleAtoi(ab.second, &b)) << token;
      m->set_systolic_bp_mmhg(a);
      m->set_diastolic_bp_mmhg(b);
    } else if (kv.first == "t" && absl::SimpleAtof(kv.second, &f)) {
      m->set_temperature_c(f);
    } else if (kv.first == "calf" && absl::SimpleAtof(kv.second, &f)) {
      m->set_calf_circumference_difference_cm(f);
    } else if (kv.first == "rf") {
      for (absl::string_view rf : absl::StrSplit(kv.second, ',')) {
        r->add_risk_factors(RiskFromShortName(rf));
      }
    } else {
      ADD_FAILURE() << "bad extra " << token;
    }
  }
}

// A line of a test data file (vignettes, warning signs) split at '|', every field trimmed; empty
// for a blank line or a '#' comment.
inline std::vector<std::string> DataFields(absl::string_view line) {
  line = absl::StripAsciiWhitespace(line);
  if (line.empty() || line[0] == '#') return {};
  std::vector<std::string> fields = absl::StrSplit(line, '|');
  for (std::string& f : fields) f = std::string(absl::StripAsciiWhitespace(f));
  return fields;
}

// "E", "U", "R", "S": the expected level of a vignette.
inline v1::Urgency LevelFromLetter(absl::string_view s) {
  if (s == "E") return v1::URGENCY_EMERGENCY;
  if (s == "U") return v1::URGENCY_URGENT;
  if (s == "R") return v1::URGENCY_ROUTINE;
  if (s == "S") return v1::URGENCY_SELF_CARE;
  ADD_FAILURE() << "unknown level " << s;
  return v1::URGENCY_UNSPECIFIED;
}

// Number of Unicode code points in a UTF-8 string.
inline size_t CodePoints(absl::string_view utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace legwise::triage::testing

#endif  // LEGWISE_TESTS_TRIAGE_TEST_UTIL_H_
