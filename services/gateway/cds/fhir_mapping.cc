#include "services/gateway/cds/fhir_mapping.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace legwise::gateway {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
namespace tv1 = triage::v1;

constexpr char kSnomed[] = "http://snomed.info/sct";
constexpr char kLoinc[] = "http://loinc.org";

const Value* Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end() || it->second.kind_case() == Value::kNullValue) return nullptr;
  return &it->second;
}
std::string Str(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v != nullptr && v->kind_case() == Value::kStringValue ? v->string_value() : "";
}
const Struct* Obj(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v != nullptr && v->kind_case() == Value::kStructValue ? &v->struct_value() : nullptr;
}
const ListValue* List(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v != nullptr && v->kind_case() == Value::kListValue ? &v->list_value() : nullptr;
}
bool Num(const Struct& s, const std::string& name, double* out) {
  const Value* v = Field(s, name);
  if (v == nullptr || v->kind_case() != Value::kNumberValue || !std::isfinite(v->number_value())) {
    return false;
  }
  *out = v->number_value();
  return true;
}

// Codings of a CodeableConcept in `system`.
std::vector<std::pair<std::string, std::string>> Codes(const Struct* cc,
                                                       absl::string_view code_system) {
  std::vector<std::pair<std::string, std::string>> out;
  if (cc == nullptr) return out;
  if (const ListValue* codings = List(*cc, "coding")) {
    for (const Value& c : codings->values()) {
      if (c.kind_case() != Value::kStructValue) continue;
      if (Str(c.struct_value(), "system") != code_system) continue;
      std::string code = Str(c.struct_value(), "code");
      if (!code.empty()) out.emplace_back(code, Str(c.struct_value(), "display"));
    }
  }
  return out;
}
bool HasCode(const Struct* cc, absl::string_view code_system, absl::string_view code) {
  for (const auto& [c, d] : Codes(cc, code_system)) {
    if (c == code) return true;
  }
  return false;
}
bool AnyCodeIn(const Struct* cc, const std::vector<absl::string_view>& codes) {
  if (cc == nullptr) return false;
  if (const ListValue* codings = List(*cc, "coding")) {
    for (const Value& c : codings->values()) {
      if (c.kind_case() != Value::kStructValue) continue;
      std::string code = Str(c.struct_value(), "code");
      if (std::find(codes.begin(), codes.end(), code) != codes.end()) return true;
    }
  }
  return false;
}

// FHIR dateTime / date (YYYY, YYYY-MM, YYYY-MM-DD, or with time and zone) to a time; false when
// unreadable. A date without time is taken at 00:00 UTC.
bool ParseFhirTime(const std::string& s, absl::Time* out) {
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, s, out, &err)) return true;
  if (absl::ParseTime("%Y-%m-%d", s, absl::UTCTimeZone(), out, &err)) return true;
  if (absl::ParseTime("%Y-%m", s, absl::UTCTimeZone(), out, &err)) return true;
  return false;
}

// The resources of a searchset Bundle (or a single resource), of `type`.
std::vector<const Struct*> Resources(const Value* v, absl::string_view type) {
  std::vector<const Struct*> out;
  if (v == nullptr || v->kind_case() != Value::kStructValue) return out;
  const Struct& s = v->struct_value();
  if (Str(s, "resourceType") == type) {
    out.push_back(&s);
    return out;
  }
  if (Str(s, "resourceType") != "Bundle") return out;
  if (const ListValue* entries = List(s, "entry")) {
    for (const Value& e : entries->values()) {
      if (e.kind_case() != Value::kStructValue) continue;
      const Struct* r = Obj(e.struct_value(), "resource");
      if (r != nullptr && Str(*r, "resourceType") == type) out.push_back(r);
    }
  }
  return out;
}

bool UsableObservation(const Struct& o) {
  std::string status = Str(o, "status");
  return status == "final" || status == "amended" || status == "corrected" ||
         status == "preliminary";
}

absl::Time Effective(const Struct& o) {
  absl::Time t = absl::InfinitePast();
  std::string e = Str(o, "effectiveDateTime");
  if (e.empty()) e = Str(o, "issued");
  if (!e.empty()) ParseFhirTime(e, &t);
  return t;
}

// The most recent usable Observation whose code has one of `codes` (LOINC).
const Struct* Latest(const std::vector<const Struct*>& obs, const std::vector<std::string>& codes) {
  const Struct* best = nullptr;
  absl::Time best_t = absl::InfinitePast();
  for (const Struct* o : obs) {
    if (!UsableObservation(*o)) continue;
    bool match = false;
    for (const std::string& c : codes) match = match || HasCode(Obj(*o, "code"), kLoinc, c);
    if (!match) continue;
    absl::Time t = Effective(*o);
    if (best == nullptr || t > best_t) {
      best = o;
      best_t = t;
    }
  }
  return best;
}

// valueQuantity.value and its UCUM code (or unit).
bool Quantity(const Struct& holder, double* value, std::string* unit) {
  const Struct* q = Obj(holder, "valueQuantity");
  if (q == nullptr || !Num(*q, "value", value)) return false;
  *unit = Str(*q, "code");
  if (unit->empty()) *unit = Str(*q, "unit");
  return true;
}

}  // namespace

absl::StatusOr<FhirMappingTable> FhirMappingTable::Parse(absl::string_view text) {
  FhirMappingTable t;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("fhir_mapping.tsv line ", line_no, ": ", why));
    };
    if (cols.size() != 6) return bad("expected 6 tab-separated columns");
    // Every code says where it was checked (or that it was not): reviewable data, never a guess.
    if (absl::StripAsciiWhitespace(cols[5]).empty()) return bad("no source");
    const std::string& table = cols[0];
    const std::string& code = cols[1];
    uint64_t numeric;
    if (!absl::SimpleAtoi(code, &numeric)) return bad("SNOMED CT code must be numeric");
    std::vector<std::string> values = absl::StrSplit(cols[3], ' ', absl::SkipEmpty());
    std::vector<std::string> flags = absl::StrSplit(cols[4], ' ', absl::SkipEmpty());
    if (table == "finding") {
      FindingMapping m;
      m.display = cols[2];
      for (const std::string& v : values) {
        tv1::SymptomKind k;
        if (!tv1::SymptomKind_Parse(v, &k) || k == tv1::SYMPTOM_KIND_UNSPECIFIED) {
          return bad(absl::StrCat("unknown symptom kind ", v));
        }
        m.kinds.push_back(k);
      }
      if (m.kinds.empty()) return bad("no symptom kind");
      for (const std::string& f : flags) {
        if (f == "leg") {
          m.needs_leg_site = true;
        } else if (f == "sudden") {
          m.read_as_sudden = true;
        } else if (f != "-") {
          return bad(absl::StrCat("unknown flag ", f));
        }
      }
      if (!t.findings_.emplace(code, std::move(m)).second) return bad("duplicate code");
    } else if (table == "site") {
      SiteMapping m;
      if (values.size() != 2 || !tv1::BodySite_Parse(values[0], &m.site) ||
          !tv1::Side_Parse(values[1], &m.side)) {
        return bad("expected BODY_SITE_... SIDE_...");
      }
      if (!t.sites_.emplace(code, m).second) return bad("duplicate code");
    } else if (table == "laterality") {
      tv1::Side side;
      if (values.size() != 1 || !tv1::Side_Parse(values[0], &side)) return bad("expected SIDE_...");
      if (!t.lateralities_.emplace(code, side).second) return bad("duplicate code");
    } else {
      return bad(absl::StrCat("unknown table ", table));
    }
  }
  return t;
}

const FindingMapping* FhirMappingTable::Finding(const std::string& code) const {
  auto it = findings_.find(code);
  return it == findings_.end() ? nullptr : &it->second;
}
const SiteMapping* FhirMappingTable::Site(const std::string& code) const {
  auto it = sites_.find(code);
  return it == sites_.end() ? nullptr : &it->second;
}
const tv1::Side* FhirMappingTable::Laterality(const std::string& code) const {
  auto it = lateralities_.find(code);
  return it == lateralities_.end() ? nullptr : &it->second;
}

MappedPrefetch MapPrefetch(const Struct& prefetch, const FhirMappingTable& table, absl::Time now) {
  MappedPrefetch out;
  tv1::AssessLegSymptomsRequest& req = out.request;
  req.set_locale("en");

  // --- patient: age for the clot risk factor.
  const Value* patient = Field(prefetch, "patient");
  if (patient == nullptr || patient->kind_case() != Value::kStructValue ||
      Str(patient->struct_value(), "resourceType") != "Patient") {
    out.missing.push_back("No Patient resource in the `patient` prefetch: age not considered.");
  } else {
    std::string birth = Str(patient->struct_value(), "birthDate");
    absl::Time born;
    if (birth.size() == 10 && ParseFhirTime(birth, &born)) {
      absl::CivilDay b = absl::ToCivilDay(born, absl::UTCTimeZone());
      absl::CivilDay today = absl::ToCivilDay(now, absl::UTCTimeZone());
      int age = static_cast<int>(today.year() - b.year());
      if (today.month() < b.month() || (today.month() == b.month() && today.day() < b.day())) --age;
      if (age >= 35) req.add_risk_factors(tv1::RISK_FACTOR_AGE_35_OR_MORE);
    } else {
      out.missing.push_back("Patient.birthDate missing or not a full date: age not considered.");
    }
  }

  // --- observations: blood pressure, temperature, gestational age, delivery date.
  const Value* obs_value = Field(prefetch, "observations");
  std::vector<const Struct*> obs = Resources(obs_value, "Observation");
  if (obs_value == nullptr) {
    out.missing.push_back(
        "No `observations` prefetch: blood pressure, temperature and pregnancy dates not "
        "considered.");
  }
  if (const Struct* bp = Latest(obs, {"85354-9"})) {
    double sys = 0, dia = 0;
    std::string unit;
    if (const ListValue* comps = List(*bp, "component")) {
      for (const Value& c : comps->values()) {
        if (c.kind_case() != Value::kStructValue) continue;
        const Struct& cs = c.struct_value();
        double v;
        std::string u;
        if (!Quantity(cs, &v, &u)) continue;
        if (HasCode(Obj(cs, "code"), kLoinc, "8480-6")) sys = v;
        if (HasCode(Obj(cs, "code"), kLoinc, "8462-4")) dia = v;
      }
    }
    int s = static_cast<int>(std::lround(sys)), d = static_cast<int>(std::lround(dia));
    if (s >= 50 && s <= 300 && d >= 20 && d <= 200 && d < s) {
      req.mutable_measurements()->set_systolic_bp_mmhg(s);
      req.mutable_measurements()->set_diastolic_bp_mmhg(d);
    } else {
      out.notes.push_back(
          "The latest blood pressure panel lacks a plausible systolic/diastolic "
          "pair (8480-6/8462-4) and was not used.");
    }
  } else if (obs_value != nullptr) {
    out.missing.push_back("No blood pressure (LOINC 85354-9) in the observations prefetch.");
  }
  if (const Struct* temp = Latest(obs, {"8310-5"})) {
    double v;
    std::string unit;
    if (Quantity(*temp, &v, &unit)) {
      double c = (unit == "[degF]" || unit == "degF" || unit == "°F") ? (v - 32) * 5 / 9 : v;
      if (unit != "Cel" && unit != "[degF]" && unit != "degF" && unit != "°C" && unit != "°F") {
        out.notes.push_back("Body temperature has no recognised unit (Cel or [degF]); not used.");
      } else if (c >= 30 && c <= 45) {
        req.mutable_measurements()->set_temperature_c(static_cast<float>(c));
      } else {
        out.notes.push_back("Body temperature outside 30-45 °C; not used.");
      }
    }
  } else if (obs_value != nullptr) {
    out.missing.push_back("No body temperature (LOINC 8310-5) in the observations prefetch.");
  }
  // Pregnancy: the latest gestational age, advanced to today; or weeks since a delivery date.
  int ga_weeks = 0, pp_weeks = 0;
  absl::Time ga_time = absl::InfinitePast(), delivery = absl::InfinitePast();
  if (const Struct* ga = Latest(obs, {"49051-6", "11884-4", "18185-9"})) {
    double v;
    std::string unit;
    if (Quantity(*ga, &v, &unit) && (unit == "wk" || unit == "d")) {
      double days = unit == "wk" ? v * 7 : v;
      ga_time = Effective(*ga);
      if (ga_time != absl::InfinitePast() && ga_time < now) {
        days += absl::ToDoubleHours(now - ga_time) / 24;
      }
      ga_weeks = static_cast<int>(days / 7);
      if (ga_weeks < 1 || ga_weeks > 45) {
        out.notes.push_back(
            absl::StrCat("Gestational age works out at ", ga_weeks, " weeks today; not used."));
        ga_weeks = 0;
      }
    } else {
      out.notes.push_back("Gestational age without a unit of wk or d; not used.");
    }
  }
  if (const Struct* dd = Latest(obs, {"93857-1"})) {
    absl::Time t;
    if (ParseFhirTime(Str(*dd, "valueDateTime"), &t) && t <= now) {
      delivery = t;
      int weeks = static_cast<int>(absl::ToDoubleHours(now - t) / (24 * 7));
      pp_weeks = std::max(1, weeks);
      if (pp_weeks > 52) pp_weeks = 0;  // more than a year ago: not postpartum
    }
  }
  if (pp_weeks > 0 && (ga_weeks == 0 || delivery >= ga_time)) {
    req.mutable_pregnancy()->set_postpartum_weeks(pp_weeks);
  } else if (ga_weeks > 0) {
    req.mutable_pregnancy()->set_gestational_age_weeks(ga_weeks);
  } else if (obs_value != nullptr) {
    out.missing.push_back(
        "No gestational age (LOINC 49051-6, 11884-4, 18185-9) or delivery date (93857-1): "
        "pregnancy stage unknown.");
  }

  // --- conditions: active findings in SNOMED CT.
  const Value* cond_value = Field(prefetch, "conditions");
  out.has_conditions_prefetch = cond_value != nullptr;
  if (cond_value == nullptr) {
    out.missing.push_back("No `conditions` prefetch: symptoms unknown.");
    return out;
  }
  for (const Struct* c : Resources(cond_value, "Condition")) {
    if (!AnyCodeIn(Obj(*c, "clinicalStatus"), {"active", "recurrence", "relapse"})) continue;
    if (AnyCodeIn(Obj(*c, "verificationStatus"), {"refuted", "entered-in-error"})) continue;
    auto codes = Codes(Obj(*c, "code"), kSnomed);
    const FindingMapping* m = nullptr;
    std::string code, display;
    for (const auto& [cc, dd] : codes) {
      if ((m = table.Finding(cc)) != nullptr) {
        code = cc;
        break;
      }
    }
    if (m == nullptr) {
      std::string text;
      if (const Struct* cc = Obj(*c, "code")) text = Str(*cc, "text");
      if (!codes.empty()) {
        out.unmapped.push_back(absl::StrCat(codes[0].second.empty() ? text : codes[0].second,
                                            " (SNOMED CT ", codes[0].first, ")"));
      } else {
        out.unmapped.push_back(
            absl::StrCat(text.empty() ? "A condition" : text, " (no SNOMED CT coding)"));
      }
      continue;
    }
    // Body site and laterality from bodySite.
    SiteMapping site;
    bool leg_site = false;
    if (const ListValue* sites = List(*c, "bodySite")) {
      for (const Value& s : sites->values()) {
        if (s.kind_case() != Value::kStructValue) continue;
        for (const auto& [sc, sd] : Codes(&s.struct_value(), kSnomed)) {
          if (const SiteMapping* sm = table.Site(sc)) {
            leg_site = true;
            site.site = sm->site;
            if (sm->side != tv1::SIDE_UNSPECIFIED) site.side = sm->side;
          } else if (const tv1::Side* lat = table.Laterality(sc)) {
            site.side = *lat;
          }
        }
      }
    }
    if (m->needs_leg_site && !leg_site) {
      out.unmapped.push_back(
          absl::StrCat(m->display, " (SNOMED CT ", code, ") without a leg body site"));
      continue;
    }
    bool sudden = false;
    if (m->read_as_sudden) {
      sudden = true;
      out.notes.push_back(
          absl::StrCat(m->display, " read as sudden onset: the record does not say."));
    }
    for (tv1::SymptomKind k : m->kinds) {
      if (req.symptoms_size() >= 32) break;
      tv1::Symptom* s = req.add_symptoms();
      s->set_kind(k);
      if (leg_site) {
        s->set_site(site.site);
        s->set_side(site.side);
      }
      s->set_sudden_onset(sudden);
    }
  }
  return out;
}

}  // namespace legwise::gateway
