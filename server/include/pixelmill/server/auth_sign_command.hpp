#pragma once
// `pixelmill sign [--config FILE] [--set SECTION.KEY=VALUE]... TARGET`: prints TARGET
// signed with the first of auth.signing_keys (from the file, PIXELMILL_AUTH_* and
// --set, as the server reads them), in canonical form, e.g.
//   /v1/images/ID?h=100&w=200&sig=Xr3...
// Exit status 0; on any error one line "pixelmill sign: ..." on `err` and 2.

#include <iosfwd>
#include <span>
#include <string_view>

#include "pixelmill/config/load.hpp"

namespace pixelmill::server {

// `args` follow the word "sign".
int run_sign_command(std::span<const std::string_view> args, const config::EnvLookup& env, std::ostream& out,
                     std::ostream& err);

}  // namespace pixelmill::server
