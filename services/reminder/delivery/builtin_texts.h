// Built-in nudge texts, used only when legwise-content cannot be reached (or lacks a text). Short
// and neutral on purpose; the reviewed, fuller texts live in the content catalog. A clinician
// reviews this table in a diff like any other medical content.
#ifndef LEGWISE_SERVICES_REMINDER_DELIVERY_BUILTIN_TEXTS_H_
#define LEGWISE_SERVICES_REMINDER_DELIVERY_BUILTIN_TEXTS_H_

namespace legwise::reminder {

// One row: locale, nudge type (as in content's NudgeText.nudge_type), title, body.
struct BuiltinText {
  const char* locale;
  const char* nudge_type;
  const char* title;
  const char* body;
};

inline constexpr BuiltinText kBuiltinTexts[] = {
    {"en", "hydration", "Time for a glass of water",
     "A glass now helps you reach your drinks target for today."},
    {"en", "stretching", "Stretch your calves",
     "Flex your feet, stretch your calves and circle your ankles for a minute."},
    {"en", "movement_break", "Time to move",
     "Walk a few steps or sit down for a moment; avoid standing still for long."},
    {"en", "bedtime_stretch", "A stretch before bed",
     "A gentle calf stretch before sleep may ease night cramps."},
    {"es", "hydration", "Hora de un vaso de agua",
     "Un vaso ahora le ayuda a llegar a su objetivo de bebida de hoy."},
    {"es", "stretching", "Estire las pantorrillas",
     "Flexione los pies, estire las pantorrillas y gire los tobillos durante un minuto."},
    {"es", "movement_break", "Hora de moverse",
     "Camine unos pasos o siéntese un momento; evite estar de pie sin moverse mucho tiempo."},
    {"es", "bedtime_stretch", "Un estiramiento antes de dormir",
     "Un estiramiento suave de pantorrillas antes de dormir podría aliviar los calambres "
     "nocturnos."},
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_DELIVERY_BUILTIN_TEXTS_H_
