#include "pixelmill/runtime/log.hpp"

#include <atomic>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace pixelmill::runtime {
namespace {

// Written once at start-up, before any thread logs; read by every log_event.
std::atomic<config::LogFormat> log_format{config::LogFormat::text};

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

bool needs_quotes(std::string_view value) {
  return value.empty() || value.find_first_of(" \"=") != std::string_view::npos;
}

}  // namespace

void configure_logging(const config::LogSettings& settings) {
  auto logger = spdlog::stdout_logger_mt("pixelmill");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(settings.level));
  log_format.store(settings.format);
  if (settings.format == config::LogFormat::json) {
    // log_event writes the rest of the object; plain spdlog calls become "msg".
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,%v})");
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%t] %v");
  }
  spdlog::flush_on(spdlog::level::warn);
}

void log_event(spdlog::level::level_enum level, std::string_view message,
               std::initializer_list<LogField> fields) {
  if (!spdlog::should_log(level)) return;
  std::string line;
  if (log_format.load() == config::LogFormat::json) {
    line = "\"msg\":";
    append_json_string(line, message);
    for (const auto& field : fields) {
      line += ',';
      append_json_string(line, field.key);
      line += ':';
      if (field.quoted) {
        append_json_string(line, field.value);
      } else {
        line += field.value;
      }
    }
  } else {
    line = message;
    for (const auto& field : fields) {
      line += ' ';
      line += field.key;
      line += '=';
      if (field.quoted && needs_quotes(field.value)) {
        append_json_string(line, field.value);
      } else {
        line += field.value;
      }
    }
  }
  spdlog::log(level, "{}", line);
}

}  // namespace pixelmill::runtime
