// The rule table compiled into the binary (rules/rules.textproto, embedded at build time), so the
// service does not depend on its working directory.
#ifndef LEGWISE_SERVICES_TRIAGE_ENGINE_BUILTIN_RULES_H_
#define LEGWISE_SERVICES_TRIAGE_ENGINE_BUILTIN_RULES_H_

#include "absl/strings/string_view.h"

namespace legwise::triage {

// The text of rules/rules.textproto as it was when the binary was built.
absl::string_view BuiltinRulesText();

}  // namespace legwise::triage

#endif  // LEGWISE_SERVICES_TRIAGE_ENGINE_BUILTIN_RULES_H_
