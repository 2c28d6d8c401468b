#include "pixelmill/config/quote.hpp"
#include "pixelmill/server/image_params.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <optional>
#include <vector>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "pixelmill/server/auth_signature.hpp"
#include "pixelmill/server/http_error.hpp"

namespace pixelmill::server {
namespace {

constexpr std::string_view slug = "bad-parameter";
constexpr std::array<std::string_view, 10> names = {"w",       "h",      "fit",     "position", "background",
                                                    "enlarge", "format", "quality", "orient",   "kernel"};
constexpr std::string_view bool_allowed = "true, false, 1, 0";
constexpr std::string_view position_allowed =
    "centre, center, north, northeast, east, southeast, south, southwest, west, northwest, "
    "top, right, bottom, left, or a side pair such as \"right top\", \"top-right\", \"left_bottom\"";
constexpr std::string_view colour_allowed =
    "hex rgb, rrggbb or rrggbbaa with an optional '#' (%23 in a URL), or white, black, transparent";
// Longer values are cut in messages: the detail goes back to the client and into logs.
constexpr std::size_t max_quoted = 64;

std::string quote(std::string_view text) { return config::quote(text, max_quoted); }

[[noreturn]] void fail(std::string detail) {
  throw HttpError(http::status::bad_request, std::string(slug), std::move(detail));
}

[[noreturn]] void bad_value(std::string_view name, std::string_view value, std::string_view problem,
                            std::string_view allowed) {
  fail("parameter " + quote(name) + ": " + quote(value) + " " + std::string(problem) + " (allowed: " +
       std::string(allowed) + ")");
}

std::string all_names() {
  std::string out;
  for (const auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// Digits only (no sign, no spaces), lo..hi.
int parse_int(std::string_view name, std::string_view value, std::string_view problem, int lo, int hi) {
  const auto allowed = std::to_string(lo) + ".." + std::to_string(hi);
  if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) {
    bad_value(name, value, problem, allowed);
  }
  int n = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc{} || n < lo || n > hi) bad_value(name, value, "is out of range", allowed);
  return n;
}

bool parse_bool(std::string_view name, std::string_view value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  bad_value(name, value, "is not a boolean", bool_allowed);
}

template <class T>
T require(std::optional<T> parsed, std::string_view name, std::string_view value, std::string_view problem,
          std::string_view allowed) {
  if (!parsed) bad_value(name, value, problem, allowed);
  return *parsed;
}

void apply(imaging::TransformOptions& o, std::string_view name, std::string_view value, int max_dimension) {
  if (name == "w") {
    o.width = parse_int(name, value, "is not a positive integer", 1, max_dimension);
  } else if (name == "h") {
    o.height = parse_int(name, value, "is not a positive integer", 1, max_dimension);
  } else if (name == "fit") {
    o.fit = require(imaging::parse_fit(value), name, value, "is not a fit",
                    "cover, contain, fill, inside, outside");
  } else if (name == "position") {
    o.position = require(imaging::parse_position(value), name, value, "is not a position", position_allowed);
  } else if (name == "background") {
    o.background = require(imaging::parse_colour(value), name, value, "is not a colour", colour_allowed);
  } else if (name == "enlarge") {
    o.enlarge = parse_bool(name, value);
  } else if (name == "format") {
    o.format = require(imaging::parse_output_format(value), name, value, "is not an output format",
                       "jpeg, jpg, png, webp, auto");
  } else if (name == "quality") {
    o.quality = parse_int(name, value, "is not an integer", 1, 100);
  } else if (name == "orient") {
    o.orient = parse_bool(name, value);
  } else if (name == "kernel") {
    o.kernel = require(imaging::parse_kernel(value), name, value, "is not a kernel",
                       "nearest, linear, cubic, area, lanczos");
  } else {
    fail("unknown parameter " + quote(name) + " (allowed: " + all_names() + ")");
  }
}

// ---- Accept ----------------------------------------------------------------------

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 9110 qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"]; in thousandths, or
// std::nullopt when malformed.
std::optional<int> parse_qvalue(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  const int whole = text[0] - '0';
  if (text.size() == 1) return whole * 1000;
  if (text[1] != '.' || text.size() > 5) return std::nullopt;
  int thousandths = 0;
  int scale = 100;
  for (const char c : text.substr(2)) {
    if (c < '0' || c > '9') return std::nullopt;
    thousandths += (c - '0') * scale;
    scale /= 10;
  }
  if (whole == 1 && thousandths != 0) return std::nullopt;
  return whole * 1000 + thousandths;
}

// ---- canonical form ------------------------------------------------------------

std::string hex_byte(std::uint8_t v) {
  constexpr char digits[] = "0123456789abcdef";
  return {digits[v >> 4], digits[v & 0xf]};
}

}  // namespace

bool accepts_webp(std::string_view header) noexcept {
  bool listed = false;
  bool refused = false;
  while (!header.empty()) {
    const auto comma = std::min(header.find(','), header.size());
    auto range = header.substr(0, comma);
    header.remove_prefix(std::min(comma + 1, header.size()));

    const auto semi = std::min(range.find(';'), range.size());
    if (!iequals(trim(range.substr(0, semi)), "image/webp")) continue;
    std::optional<int> q = 1000;
    for (auto params = range.substr(std::min(semi + 1, range.size())); !params.empty();) {
      const auto next = std::min(params.find(';'), params.size());
      const auto param = params.substr(0, next);
      params.remove_prefix(std::min(next + 1, params.size()));
      const auto eq = param.find('=');
      if (eq != std::string_view::npos && iequals(trim(param.substr(0, eq)), "q")) {
        q = parse_qvalue(trim(param.substr(eq + 1)));
      }
    }
    if (!q) continue;  // malformed: ignored
    if (*q == 0) {
      refused = true;
    } else {
      listed = true;
    }
  }
  return listed && !refused;
}

imaging::TransformOptions parse_transform_params(std::string_view target_or_query, std::string_view accept_header,
                                                 unsigned max_output_dimension) {
  imaging::TransformOptions options;
  const int max_dimension = static_cast<int>(std::min(max_output_dimension, 1'000'000u));
  options.max_output_dimension = max_dimension;
  options.accepts_webp = accepts_webp(accept_header);

  std::string target;
  if (target_or_query.starts_with('/')) {
    target = target_or_query;
  } else {
    if (target_or_query.starts_with('?')) target_or_query.remove_prefix(1);
    target = "/?" + std::string(target_or_query);
  }
  const auto url = boost::urls::parse_origin_form(target);
  if (!url) {
    const auto mark = target.find('?');
    const auto query = mark == std::string::npos ? std::string_view{} : std::string_view(target).substr(mark + 1);
    fail("query " + quote(query) + " is not a valid URL query (" + url.error().message() + ")");
  }

  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& param : url->params()) {
    if (param.key.empty() && !param.has_value) continue;  // "a=1&&b=2", a trailing '&'
    // The URL's signature, checked by AccessPolicy before any handler runs; it
    // changes nothing in the image, so it stays out of options (cache key, ETag).
    if (param.key == signature_param) continue;
    const auto before = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == param.key; });
    if (before != seen.end()) {
      fail("parameter " + quote(param.key) + " is given more than once: " + quote(before->second) + " and " +
           quote(param.value) + " (allowed: each parameter at most once)");
    }
    apply(options, param.key, param.value, max_dimension);
    seen.emplace_back(param.key, param.value);
  }
  return options;
}

std::string canonical_params(const imaging::TransformOptions& o) {
  const auto side = [](const std::optional<int>& v) { return v ? std::to_string(*v) : std::string("-"); };
  std::string out;
  out += "w=" + side(o.width);
  out += "&h=" + side(o.height);
  out += "&fit=" + std::string(imaging::to_string(o.fit));
  out += "&position=" + std::string(imaging::to_string(o.position));
  out += "&enlarge=" + std::string(o.enlarge ? "1" : "0");
  out += "&format=" + std::string(imaging::to_string(o.format));
  if (o.format == imaging::OutputFormat::auto_) out += "&webp=" + std::string(o.accepts_webp ? "1" : "0");
  out += "&quality=" + std::to_string(o.quality);
  out += "&background=" + hex_byte(o.background.r) + hex_byte(o.background.g) + hex_byte(o.background.b) +
         hex_byte(o.background.a);
  out += "&orient=" + std::string(o.orient ? "1" : "0");
  // Only when given: default requests keep the keys (and ETags) they had before `kernel`.
  if (o.kernel) out += "&kernel=" + std::string(imaging::to_string(*o.kernel));
  out += "&max=" + std::to_string(o.max_output_dimension);
  return out;
}

}  // namespace pixelmill::server
