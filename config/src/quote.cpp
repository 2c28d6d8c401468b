#include "pixelmill/config/quote.hpp"

#include <cstdio>

namespace pixelmill::config {

std::string quote(std::string_view text, std::size_t max_length) {
  const bool cut = text.size() > max_length;
  if (cut) text = text.substr(0, max_length);
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  out += '"';
  if (cut) out += "...";
  return out;
}

}  // namespace pixelmill::config
