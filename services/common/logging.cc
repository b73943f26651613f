#include "services/common/logging.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace legwise {
namespace {

absl::Mutex g_mu;
std::string* g_service ABSL_GUARDED_BY(g_mu) = new std::string("legwise");
std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void SetLogServiceName(absl::string_view service) {
  absl::MutexLock lock(&g_mu);
  *g_service = std::string(service);
}

void SetMinLogLevel(LogLevel level) { g_min_level = static_cast<int>(level); }

std::string JsonEscape(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string FormatLogLine(LogLevel level, absl::string_view event, const LogFields& fields) {
  std::string service;
  {
    absl::MutexLock lock(&g_mu);
    service = *g_service;
  }
  std::string line = absl::StrCat(
      "{\"ts\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      "\",\"level\":\"", LevelName(level), "\",\"service\":\"", JsonEscape(service),
      "\",\"event\":\"", JsonEscape(event), "\"");
  for (const LogField& f : fields) {
    absl::StrAppend(&line, ",\"", JsonEscape(f.key), "\":");
    if (f.numeric) {
      absl::StrAppend(&line, f.value);
    } else {
      absl::StrAppend(&line, "\"", JsonEscape(f.value), "\"");
    }
  }
  line += "}";
  return line;
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, absl::string_view event, const LogFields& fields) {
  if (!LogEnabled(level)) return;
  std::string line = FormatLogLine(level, event, fields);
  line += '\n';
  // One fwrite per line keeps concurrent lines whole.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

bool LogSampler::Sample(absl::string_view key, absl::Time now, int64_t* suppressed) {
  const int64_t second = absl::ToUnixSeconds(now);
  absl::MutexLock lock(&mu_);
  // Keys are a handful of codes or reasons; a flood of distinct keys only resets the counts.
  if (windows_.size() > 1024) windows_.clear();
  Window& w = windows_[key];
  if (w.second != second) {
    w.second = second;
    w.written = 0;
  }
  if (w.written >= per_second_) {
    ++w.suppressed;
    return false;
  }
  ++w.written;
  *suppressed = w.suppressed;
  w.suppressed = 0;
  return true;
}

}  // namespace legwise
