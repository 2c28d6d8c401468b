#pragma once
// Quotes a value for a one-line, user-facing message (a config error, an HTTP
// problem detail): '"' and '\' are escaped and control characters become \xNN, so a
// value can never break the line, the log or the terminal. Values longer than
// max_length are cut and marked with "...".

#include <string>
#include <string_view>

namespace pixelmill::config {

std::string quote(std::string_view text, std::size_t max_length = std::string_view::npos);

}  // namespace pixelmill::config
