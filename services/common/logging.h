// Structured JSON logs on stderr, one object per line. Callers pass an event name and fields; the
// logger adds time, level and service. Never pass a symptom, a user's free text, a user id, or a
// token: log counts, codes, method names and ids that identify a request, not a person or her
// health.
#ifndef LEGWISE_SERVICES_COMMON_LOGGING_H_
#define LEGWISE_SERVICES_COMMON_LOGGING_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace legwise {

// One "key": value pair. Numbers are written unquoted.
struct LogField {
  LogField(absl::string_view k, absl::string_view v) : key(k), value(v) {}
  LogField(absl::string_view k, const char* v) : key(k), value(v) {}
  LogField(absl::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
  LogField(absl::string_view k, N n) : key(k), value(absl::StrCat(n)), numeric(true) {}
  std::string key;
  std::string value;
  bool numeric = false;
};
using LogFields = std::vector<LogField>;

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Names the service in every line; call once from main().
void SetLogServiceName(absl::string_view service);
// Lines below this level are dropped (default kInfo).
void SetMinLogLevel(LogLevel level);

// Whether a line at `level` would be written (cheap; check before building costly fields).
bool LogEnabled(LogLevel level);

void Log(LogLevel level, absl::string_view event, const LogFields& fields = {});
inline void LogInfo(absl::string_view event, const LogFields& fields = {}) {
  Log(LogLevel::kInfo, event, fields);
}
inline void LogWarning(absl::string_view event, const LogFields& fields = {}) {
  Log(LogLevel::kWarning, event, fields);
}
inline void LogError(absl::string_view event, const LogFields& fields = {}) {
  Log(LogLevel::kError, event, fields);
}

// The JSON line (without newline) that Log would write; exposed for tests.
std::string FormatLogLine(LogLevel level, absl::string_view event, const LogFields& fields);

// Escapes a string for a JSON string literal (without the quotes).
std::string JsonEscape(absl::string_view in);

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_LOGGING_H_
