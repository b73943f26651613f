// Structured JSON logs on stderr, one object per line. Callers pass an event name and fields; the
// logger adds time, level and service. Never pass a symptom, a user's free text, a user id, or a
// token: log counts, codes, method names and ids that identify a request, not a person or her
// health.
#ifndef LEGWISE_SERVICES_COMMON_LOGGING_H_
#define LEGWISE_SERVICES_COMMON_LOGGING_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

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

// Decides which of many similar lines (refusals a hostile caller can trigger at will) are written:
// at most `per_second` lines per key in each one-second window. Callers count every event in
// metrics and log only the sampled ones, with the number suppressed since the last written line.
class LogSampler {
 public:
  explicit LogSampler(int per_second) : per_second_(per_second) {}
  // True when this event's line should be written; then `*suppressed` is the number of events with
  // this key not written since the last one that was.
  bool Sample(absl::string_view key, absl::Time now, int64_t* suppressed);

 private:
  struct Window {
    int64_t second = 0;
    int written = 0;
    int64_t suppressed = 0;
  };
  const int per_second_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Window> windows_ ABSL_GUARDED_BY(mu_);
};

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_LOGGING_H_
