// Command-line flags with environment-variable overrides, the one way every legwise executable is
// configured. A flag `--redis_addr` can also be set by `LEGWISE_REDIS_ADDR`; the command line wins
// over the environment, which wins over the default. Unknown flags and bad values are errors that
// name the flag: a typo must never silently fall back to a default.
#ifndef LEGWISE_SERVICES_COMMON_CONFIG_H_
#define LEGWISE_SERVICES_COMMON_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace legwise {

// Looks an environment variable up; returns nullopt when unset. Injected so tests need no real env.
using EnvLookup = std::function<absl::optional<std::string>(absl::string_view name)>;

// The process environment.
EnvLookup ProcessEnvironment();

// A set of named flags bound to variables that already hold their defaults.
class FlagSet {
 public:
  explicit FlagSet(std::string program) : program_(std::move(program)) {}

  // Registers a flag; `target` holds the default and receives the parsed value.
  void AddString(std::string name, std::string* target, std::string help);
  // Integer flag accepted only within [min, max].
  void AddInt(std::string name, int* target, std::string help, int min = 0, int max = 1 << 30);
  // Accepts true/false/1/0/yes/no; a bare `--name` means true.
  void AddBool(std::string name, bool* target, std::string help);
  // Accepts absl durations such as "150ms", "30s", "5m".
  void AddDuration(std::string name, absl::Duration* target, std::string help);

  // Parses the environment, then argv (`--name=value` or `--name value`). Returns INVALID_ARGUMENT
  // naming the flag or variable on any problem. `--help` sets help_requested().
  absl::Status Parse(int argc, const char* const* argv,
                     const EnvLookup& env = ProcessEnvironment());

  bool help_requested() const { return help_requested_; }

  // Parse() for a main(): on a bad flag prints the error and the usage to stderr and returns 2;
  // on --help prints the usage to stdout and returns 0; otherwise returns nullopt and the program
  // goes on. Use as `if (auto exit_code = flags.ParseMain(argc, argv)) return *exit_code;`.
  std::optional<int> ParseMain(int argc, const char* const* argv);

  // Human-readable usage: every flag, its variable, default and help.
  std::string Usage() const;

  // The environment variable for a flag name: "redis_addr" -> "LEGWISE_REDIS_ADDR".
  static std::string EnvName(absl::string_view flag_name);

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<absl::Status(absl::string_view)> set;
  };
  Flag* Find(absl::string_view name);

  std::string program_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

// Parses "host:port" (host may be a bracketed IPv6 literal); INVALID_ARGUMENT naming `flag`
// otherwise.
absl::Status ValidateHostPort(absl::string_view value, absl::string_view flag);

// A comma-separated list of host:port (e.g. the seed nodes of a Redis Cluster), at least one and
// at most `max_entries`; INVALID_ARGUMENT naming `flag` otherwise.
absl::Status ValidateHostPortList(absl::string_view value, absl::string_view flag,
                                  int max_entries = 64);

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_CONFIG_H_
