#pragma once
// Logging set-up and structured events. Events are one line each: in text format
// `message key=value ...`, in JSON format one object per line, so the same call
// serves humans at a terminal and log shippers in a container.

#include <initializer_list>
#include <string>
#include <string_view>

#include <spdlog/common.h>

#include "pixelmill/config/settings.hpp"

namespace pixelmill::runtime {

// Configures spdlog's default logger (stdout, level, text or JSON lines).
void configure_logging(const config::LogSettings& settings);

struct LogField {
  std::string_view key;
  std::string value;
  bool quoted = true;  // false for numbers, so JSON keeps their type
};

inline LogField log_number(std::string_view key, double value) {
  std::string text = std::to_string(value);
  // to_string gives 6 decimals; trim trailing zeros for readable lines.
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return {key, std::move(text), false};
}

void log_event(spdlog::level::level_enum level, std::string_view message,
               std::initializer_list<LogField> fields);

}  // namespace pixelmill::runtime
