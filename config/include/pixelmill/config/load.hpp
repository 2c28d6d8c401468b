#pragma once
// Builds Settings from defaults < TOML file < environment < command-line flags.

#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pixelmill/config/settings.hpp"

namespace pixelmill::config {

// A setting that cannot be used. what() is one line naming the key, the offending
// value and what is allowed, e.g.
//   runtime.io_threads: "abc" is not an integer (allowed: 0..64, 0 = auto)
// main() prints it and exits with status 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Action { run, help, version };

struct LoadResult {
  Action action = Action::run;
  Settings settings;
  std::filesystem::path config_file;  // empty when none was given
};

// Returns the value of an environment variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// args excludes the program name. Throws ConfigError on any invalid input.
LoadResult load(std::span<const std::string_view> args, const EnvLookup& env);

// Looks variables up in the process environment.
EnvLookup process_env();

// load() over the process's argv and environment.
LoadResult load_from_process(int argc, char** argv);

std::string help_text();
std::string_view version();

}  // namespace pixelmill::config
