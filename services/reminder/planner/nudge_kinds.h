// The one table of nudge kinds. Everything that depends on the kind of a nudge (the planner's daily
// cap priority, the code inside nudge ids, the content service's text name, the built-in fallback
// texts, plan validation and legwisectl's names) reads this table: adding a kind is one row here
// plus its planning rule in planner.cc.
//
// Texts may contain `{daily_target}`, replaced by her plan's daily water target in her language
// ("1 litre", "1.5 litres", "1,5 litros"): a 1,000 ml plan never reads "2.3 litres".
#ifndef LEGWISE_SERVICES_REMINDER_PLANNER_NUDGE_KINDS_H_
#define LEGWISE_SERVICES_REMINDER_PLANNER_NUDGE_KINDS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace legwise::reminder {

// The kinds of nudge; the numbers equal the proto enum NudgeKind so conversion is a cast.
enum class NudgeKind : int {
  kHydration = 1,
  kStretching = 2,
  kMovementBreak = 3,
  kBedtimeStretch = 4,
};

// A built-in text, used when legwise-content cannot be reached or lacks the text. Short and neutral
// on purpose; the reviewed, fuller texts live in the content catalog. A clinician reviews these
// rows in a diff like any other medical content.
struct FallbackText {
  const char* locale;  // "en" or "es"
  const char* title;
  const char* body;
};

inline constexpr int kFallbackLocales = 2;

struct NudgeKindInfo {
  NudgeKind kind;
  // Three letters inside nudge ids ("hyd-20260308-3-..."); stored, never change one.
  const char* code;
  // Lower-case name: content's NudgeText.nudge_type and legwisectl's --kinds value.
  const char* name;
  // Daily cap: when a day has more candidates than max_nudges_per_day, lower is kept first.
  int cap_priority;
  FallbackText fallback[kFallbackLocales];
};

inline constexpr NudgeKindInfo kNudgeKinds[] = {
    {NudgeKind::kHydration,
     "hyd",
     "hydration",
     3,
     {{"en", "Time for a glass of water",
       "A glass now helps you reach your drinks target of {daily_target} today."},
      {"es", "Hora de un vaso de agua",
       "Un vaso ahora le ayuda a llegar a su objetivo de {daily_target} de bebida de hoy."}}},
    {NudgeKind::kStretching,
     "str",
     "stretching",
     2,
     {{"en", "Stretch your calves",
       "Flex your feet, stretch your calves and circle your ankles for a minute."},
      {"es", "Estire las pantorrillas",
       "Flexione los pies, estire las pantorrillas y gire los tobillos durante un minuto."}}},
    {NudgeKind::kMovementBreak,
     "mov",
     "movement_break",
     1,
     {{"en", "Time to move",
       "Walk a few steps or sit down for a moment; avoid standing still for long."},
      {"es", "Hora de moverse",
       "Camine unos pasos o siéntese un momento; evite estar de pie sin moverse mucho tiempo."}}},
    {NudgeKind::kBedtimeStretch,
     "bed",
     "bedtime_stretch",
     0,
     {{"en", "A stretch before bed", "A gentle calf stretch before sleep may ease night cramps."},
      {"es", "Un estiramiento antes de dormir",
       "Un estiramiento suave de pantorrillas antes de dormir podría aliviar los calambres "
       "nocturnos."}}},
};

inline constexpr int kNumNudgeKinds = sizeof(kNudgeKinds) / sizeof(kNudgeKinds[0]);

// True for the numbers of the kinds in the table (proto NUDGE_KIND_UNSPECIFIED and unknown values:
// false).
inline constexpr bool IsNudgeKind(int k) {
  for (const NudgeKindInfo& info : kNudgeKinds) {
    if (static_cast<int>(info.kind) == k) return true;
  }
  return false;
}

// The row of a kind (every NudgeKind value has one).
const NudgeKindInfo& KindInfo(NudgeKind kind);
// The row with this id code or name; null when none.
const NudgeKindInfo* KindByCode(absl::string_view code);
const NudgeKindInfo* KindByName(absl::string_view name);

// The fallback text of a kind for a locale ("es..." -> Spanish, anything else -> English).
const FallbackText& FallbackFor(NudgeKind kind, absl::string_view locale);

// "en" or "es": the language the built-in texts and amounts are written in for `locale`.
absl::string_view FallbackLanguage(absl::string_view locale);

// A water amount in words for `locale`: 1000 -> "1 litre", 1500 -> "1.5 litres", 2300 in Spanish
// -> "2,3 litros"; amounts that are not a multiple of 100 ml in ml ("1250 ml").
std::string FormatWaterAmount(int32_t ml, absl::string_view locale);

// `text` with `{daily_target}` replaced by FormatWaterAmount(target_ml, locale).
std::string FillTextTemplate(absl::string_view text, int32_t target_ml, absl::string_view locale);

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_PLANNER_NUDGE_KINDS_H_
