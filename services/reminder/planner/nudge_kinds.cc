#include "services/reminder/planner/nudge_kinds.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace legwise::reminder {

const NudgeKindInfo& KindInfo(NudgeKind kind) {
  for (const NudgeKindInfo& info : kNudgeKinds) {
    if (info.kind == kind) return info;
  }
  return kNudgeKinds[0];  // unreachable for a NudgeKind value; callers check IsNudgeKind first
}

const NudgeKindInfo* KindByCode(absl::string_view code) {
  for (const NudgeKindInfo& info : kNudgeKinds) {
    if (code == info.code) return &info;
  }
  return nullptr;
}

const NudgeKindInfo* KindByName(absl::string_view name) {
  for (const NudgeKindInfo& info : kNudgeKinds) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

absl::string_view FallbackLanguage(absl::string_view locale) {
  const std::string lower = absl::AsciiStrToLower(locale);
  return (lower == "es" || absl::StartsWith(lower, "es-") || absl::StartsWith(lower, "es_")) ? "es"
                                                                                             : "en";
}

const FallbackText& FallbackFor(NudgeKind kind, absl::string_view locale) {
  const NudgeKindInfo& info = KindInfo(kind);
  const absl::string_view lang = FallbackLanguage(locale);
  for (const FallbackText& t : info.fallback) {
    if (lang == t.locale) return t;
  }
  return info.fallback[0];
}

std::string FormatWaterAmount(int32_t ml, absl::string_view locale) {
  const bool es = FallbackLanguage(locale) == "es";
  if (ml <= 0 || ml % 100 != 0) return absl::StrCat(ml, " ml");
  const int32_t whole = ml / 1000;
  const int32_t tenth = (ml % 1000) / 100;
  std::string number = absl::StrCat(whole);
  if (tenth != 0) absl::StrAppend(&number, es ? "," : ".", tenth);
  const bool one = whole == 1 && tenth == 0;
  if (es) return absl::StrCat(number, one ? " litro" : " litros");
  return absl::StrCat(number, one ? " litre" : " litres");
}

std::string FillTextTemplate(absl::string_view text, int32_t target_ml, absl::string_view locale) {
  if (!absl::StrContains(text, "{daily_target}")) return std::string(text);
  return absl::StrReplaceAll(text, {{"{daily_target}", FormatWaterAmount(target_ml, locale)}});
}

}  // namespace legwise::reminder
