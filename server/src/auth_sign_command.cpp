#include "pixelmill/server/auth_sign_command.hpp"

#include <ostream>
#include <string>
#include <vector>

#include "pixelmill/config/quote.hpp"
#include "pixelmill/server/auth_signature.hpp"

namespace pixelmill::server {
namespace {

constexpr std::string_view usage =
    "Usage: pixelmill sign [--config FILE] [--set SECTION.KEY=VALUE]... TARGET\n"
    "Prints TARGET (/v1/images/ID?w=200&h=100) with its parameters in canonical order\n"
    "and a sig= parameter signed with the first of auth.signing_keys.\n";

struct UsageError {
  std::string message;
};

struct SignArgs {
  std::vector<std::string_view> config_args;  // for config::load
  std::string_view target;
  bool help = false;
};

// Only --config and --set (which take a value) and --help are settings here, so
// every other word is the target.
SignArgs split(std::span<const std::string_view> args) {
  SignArgs out;
  bool have_target = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
    } else if (arg == "--config" || arg == "--set") {
      out.config_args.push_back(arg);
      if (i + 1 < args.size()) out.config_args.push_back(args[++i]);
    } else if (arg.starts_with("--config=") || arg.starts_with("--set=")) {
      out.config_args.push_back(arg);
    } else if (arg.starts_with('-')) {
      throw UsageError{std::string(arg) + ": unknown flag (allowed: --config FILE, --set SECTION.KEY=VALUE)"};
    } else if (have_target) {
      throw UsageError{config::quote(arg, 64) + ": more than one target"};
    } else {
      out.target = arg;
      have_target = true;
    }
  }
  if (!have_target && !out.help) throw UsageError{"missing the target to sign, e.g. /v1/images/ID?w=200"};
  return out;
}

std::string sign(const SignArgs& args, const config::EnvLookup& env) {
  const auto settings = config::load(args.config_args, env).settings;
  if (settings.auth.signing_keys.empty()) {
    throw UsageError{"no signing key: set auth.signing_keys (file, PIXELMILL_AUTH_SIGNING_KEYS or --set)"};
  }
  const auto signed_url = args.target.starts_with('/') ? signed_target(args.target, settings.auth.signing_keys.front())
                                                       : std::nullopt;
  if (!signed_url) {
    throw UsageError{config::quote(args.target, 64) + " is not a path with an optional query (e.g. /v1/images/ID?w=200)"};
  }
  return *signed_url;
}

}  // namespace

int run_sign_command(std::span<const std::string_view> args, const config::EnvLookup& env, std::ostream& out,
                     std::ostream& err) {
  try {
    const auto parsed = split(args);
    if (parsed.help) {
      out << usage;
      return 0;
    }
    out << sign(parsed, env) << "\n";
    return 0;
  } catch (const UsageError& e) {
    err << "pixelmill sign: " << e.message << "\n";
  } catch (const config::ConfigError& e) {
    err << "pixelmill sign: " << e.what() << "\n";
  }
  return 2;
}

}  // namespace pixelmill::server
