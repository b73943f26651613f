#include "services/common/config.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace legwise {

EnvLookup ProcessEnvironment() {
  return [](absl::string_view name) -> absl::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return absl::nullopt;
    return std::string(value);
  };
}

std::string FlagSet::EnvName(absl::string_view flag_name) {
  return absl::StrCat("LEGWISE_", absl::AsciiStrToUpper(flag_name));
}

void FlagSet::AddString(std::string name, std::string* target, std::string help) {
  flags_.push_back(
      {std::move(name), std::move(help), *target, false, [target](absl::string_view v) {
         *target = std::string(v);
         return absl::OkStatus();
       }});
}

void FlagSet::AddInt(std::string name, int* target, std::string help, int min, int max) {
  flags_.push_back({std::move(name), std::move(help), absl::StrCat(*target), false,
                    [target, min, max](absl::string_view v) {
                      int parsed;
                      if (!absl::SimpleAtoi(v, &parsed)) {
                        return absl::InvalidArgumentError("must be an integer");
                      }
                      if (parsed < min || parsed > max) {
                        return absl::InvalidArgumentError(
                            absl::StrCat("must be between ", min, " and ", max));
                      }
                      *target = parsed;
                      return absl::OkStatus();
                    }});
}

void FlagSet::AddBool(std::string name, bool* target, std::string help) {
  flags_.push_back({std::move(name), std::move(help), *target ? "true" : "false", true,
                    [target](absl::string_view v) {
                      std::string lower = absl::AsciiStrToLower(v);
                      if (lower == "true" || lower == "1" || lower == "yes") {
                        *target = true;
                      } else if (lower == "false" || lower == "0" || lower == "no") {
                        *target = false;
                      } else {
                        return absl::InvalidArgumentError("must be true or false");
                      }
                      return absl::OkStatus();
                    }});
}

void FlagSet::AddDuration(std::string name, absl::Duration* target, std::string help) {
  flags_.push_back({std::move(name), std::move(help), absl::FormatDuration(*target), false,
                    [target](absl::string_view v) {
                      absl::Duration parsed;
                      if (!absl::ParseDuration(v, &parsed) || parsed < absl::ZeroDuration()) {
                        return absl::InvalidArgumentError(
                            "must be a non-negative duration such as 150ms, 30s or 5m");
                      }
                      *target = parsed;
                      return absl::OkStatus();
                    }});
}

FlagSet::Flag* FlagSet::Find(absl::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::Parse(int argc, const char* const* argv, const EnvLookup& env) {
  for (Flag& f : flags_) {
    std::string var = EnvName(f.name);
    if (absl::optional<std::string> value = env(var)) {
      if (absl::Status s = f.set(*value); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("environment variable ", var, ": ", s.message()));
      }
    }
  }
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (!absl::ConsumePrefix(&arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "': flags look like --name=value"));
    }
    absl::string_view name = arg;
    absl::optional<absl::string_view> value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
    }
    if (absl::Status s = flag->set(*value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

std::optional<int> FlagSet::ParseMain(int argc, const char* const* argv) {
  if (absl::Status s = Parse(argc, argv); !s.ok()) {
    std::cerr << s.message() << "\n\n" << Usage();
    return 2;
  }
  if (help_requested_) {
    std::cout << Usage();
    return 0;
  }
  return std::nullopt;
}

std::string FlagSet::Usage() const {
  std::string out = absl::StrCat("usage: ", program_, " [flags]\n");
  for (const Flag& f : flags_) {
    absl::StrAppend(&out, "  --", f.name, " (env ", EnvName(f.name), ", default \"", f.default_text,
                    "\")\n      ", f.help, "\n");
  }
  return out;
}

absl::Status ValidateHostPort(absl::string_view value, absl::string_view flag) {
  if (value.find(',') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": expected one host:port (a comma-separated list is for --redis_cluster seeds)"));
  }
  size_t colon = value.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(value.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected host:port (e.g. 127.0.0.1:6379)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateHostPortList(absl::string_view value, absl::string_view flag,
                                  int max_entries) {
  std::vector<absl::string_view> entries = absl::StrSplit(value, ',');
  if (static_cast<int>(entries.size()) > max_entries) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": at most ", max_entries, " host:port entries"));
  }
  for (absl::string_view entry : entries) {
    if (absl::Status s = ValidateHostPort(absl::StripAsciiWhitespace(entry), flag); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": expected host:port[,host:port...] (e.g. 10.0.0.1:6379,10.0.0.2:6379)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace legwise
