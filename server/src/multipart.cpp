#include "pixelmill/config/quote.hpp"
#include "pixelmill/server/multipart.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <vector>

#include "pixelmill/server/http_error.hpp"

namespace pixelmill::server {
namespace {

constexpr std::string_view crlf = "\r\n";
constexpr std::size_t max_quoted = 80;  // values are cut in messages beyond this

std::string quote(std::string_view text) { return config::quote(text, max_quoted); }

[[noreturn]] void fail(std::string detail) {
  throw HttpError(http::status::bad_request, "bad-multipart", std::move(detail));
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// One `; name=value` parameter as written: value is inside the quotes when quoted,
// escapes not yet undone.
struct RawParam {
  std::string_view name;
  std::string_view value;
  bool quoted = false;
};

// The parameters after a media type or disposition type (`text` starts after the
// first ';'); std::nullopt when malformed.
std::optional<std::vector<RawParam>> split_params(std::string_view text) {
  std::vector<RawParam> out;
  std::size_t i = 0;
  const auto skip_ows = [&] {
    while (i < text.size() && is_ows(text[i])) ++i;
  };
  while (true) {
    while (i < text.size() && (is_ows(text[i]) || text[i] == ';')) ++i;
    if (i == text.size()) return out;
    const auto eq = text.find_first_of("=;", i);
    if (eq == std::string_view::npos || text[eq] != '=') return std::nullopt;
    RawParam p;
    p.name = trim(text.substr(i, eq - i));
    if (p.name.empty()) return std::nullopt;
    i = eq + 1;
    skip_ows();
    if (i < text.size() && text[i] == '"') {
      const auto start = ++i;
      while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
      if (i >= text.size()) return std::nullopt;  // no closing quote
      p.value = text.substr(start, i - start);
      p.quoted = true;
      ++i;
      skip_ows();
      if (i < text.size() && text[i] != ';') return std::nullopt;
    } else {
      const auto end = std::min(text.find(';', i), text.size());
      p.value = trim(text.substr(i, end - i));
      if (p.value.empty() || p.value.find_first_of(" \t\"") != std::string_view::npos) return std::nullopt;
      i = end;
    }
    out.push_back(p);
  }
}

std::string unquote(const RawParam& p) {
  if (!p.quoted) return std::string(p.value);
  std::string out;
  for (std::size_t i = 0; i < p.value.size(); ++i) {
    if (p.value[i] == '\\' && i + 1 < p.value.size()) ++i;
    out += p.value[i];
  }
  return out;
}

const RawParam* find_param(const std::vector<RawParam>& params, std::string_view name) {
  const auto it = std::find_if(params.begin(), params.end(), [&](const RawParam& p) { return iequals(p.name, name); });
  return it == params.end() ? nullptr : &*it;
}

// RFC 2046 §5.1.1: 1..70 bchars, not ending in a space.
bool valid_boundary(std::string_view b) {
  constexpr std::string_view specials = "'()+_,-./:=? ";
  if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
  return std::all_of(b.begin(), b.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || specials.find(c) != std::string_view::npos;
  });
}

struct PartHeaders {
  std::optional<std::string_view> disposition;
  std::optional<std::string_view> content_type;
};

PartHeaders read_headers(std::string_view block, int part) {
  PartHeaders h;
  while (!block.empty()) {
    const auto end = std::min(block.find(crlf), block.size());
    const auto line = block.substr(0, end);
    block.remove_prefix(std::min(end + crlf.size(), block.size()));
    const auto colon = line.find(':');
    const auto name = colon == std::string_view::npos ? std::string_view{} : line.substr(0, colon);
    if (name.empty() || name.find_first_of(" \t") != std::string_view::npos) {
      fail("part " + std::to_string(part) + ": header line " + quote(line) + " is not NAME: VALUE");
    }
    const auto value = trim(line.substr(colon + 1));
    if (iequals(name, "Content-Disposition")) {
      h.disposition = value;
    } else if (iequals(name, "Content-Type")) {
      h.content_type = value;
    }
  }
  return h;
}

}  // namespace

std::optional<std::string_view> boundary_of(std::string_view content_type) noexcept {
  try {
    const auto semi = std::min(content_type.find(';'), content_type.size());
    if (!iequals(trim(content_type.substr(0, semi)), "multipart/form-data")) return std::nullopt;
    const auto params = split_params(content_type.substr(std::min(semi + 1, content_type.size())));
    if (!params) return std::nullopt;
    const auto* b = find_param(*params, "boundary");
    if (b == nullptr || !valid_boundary(b->value)) return std::nullopt;
    return b->value;
  } catch (...) {  // std::bad_alloc from the parameter list
    return std::nullopt;
  }
}

std::string_view require_boundary(std::string_view content_type) {
  if (const auto b = boundary_of(content_type)) return *b;
  const auto semi = std::min(content_type.find(';'), content_type.size());
  if (!iequals(trim(content_type.substr(0, semi)), "multipart/form-data")) {
    fail("Content-Type " + quote(content_type) + " is not multipart/form-data (allowed: multipart/form-data; " +
         "boundary=...)");
  }
  fail("Content-Type " + quote(content_type) +
       " has no valid boundary parameter (allowed: boundary=1..70 letters, digits or '()+_,-./:=? )");
}

FilePart find_file_part(std::string_view body, std::string_view boundary, std::string_view field) {
  if (boundary.empty()) fail("the multipart boundary is empty");
  const std::string dash_boundary = "--" + std::string(boundary);
  const std::string delimiter = std::string(crlf) + dash_boundary;  // before every later boundary
  const std::string closing = quote(dash_boundary + "--");

  // The first boundary line: at the very start, or after a preamble.
  std::size_t pos = 0;
  if (!body.starts_with(dash_boundary)) {
    pos = body.find(delimiter);
    if (pos == std::string_view::npos) {
      fail("the body has no boundary line " + quote(dash_boundary) + " (is the boundary right?)");
    }
    pos += crlf.size();
  }
  pos += dash_boundary.size();

  std::optional<FilePart> found;
  int found_in = 0;
  std::vector<std::string> names;
  for (int part = 1;; ++part) {
    // Just after a boundary: "--" closes the body, else padding and CRLF open a part.
    if (body.substr(pos).starts_with("--")) break;  // the epilogue after it is ignored
    while (pos < body.size() && is_ows(body[pos])) ++pos;
    if (pos >= body.size()) fail("the body ends without the closing boundary " + closing);
    if (!body.substr(pos).starts_with(crlf)) {
      fail("boundary line before part " + std::to_string(part) + " is followed by " +
           quote(body.substr(pos, 16)) + " (allowed: CRLF, or \"--\" to close)");
    }
    pos += crlf.size();

    // Headers end with an empty line, before the next boundary.
    const auto next = body.find(delimiter, pos);
    if (next == std::string_view::npos) {
      fail("the body ends inside part " + std::to_string(part) + " without the closing boundary " + closing);
    }
    // RFC 2046: body-part := headers [CRLF *OCTET], then CRLF "--" boundary. With
    // no content at all, the delimiter's CRLF doubles as the end of the headers.
    std::string_view header_block;
    std::size_t content_start = next;
    if (next != pos && !body.substr(pos).starts_with(crlf)) {
      const auto blank = body.find("\r\n\r\n", pos);
      if (blank == std::string_view::npos || blank > next) {
        fail("part " + std::to_string(part) + ": headers do not end with an empty line");
      }
      header_block = body.substr(pos, blank - pos);
      content_start = std::min(blank + 4, next);
    } else if (next != pos) {
      content_start = pos + crlf.size();  // no headers, an empty line, content
    }
    const auto content_end = next;

    const auto headers = read_headers(header_block, part);
    const auto where = "part " + std::to_string(part) + ": ";
    if (!headers.disposition) fail(where + "no Content-Disposition header (allowed: form-data; name=\"...\")");
    const auto disposition = *headers.disposition;
    const auto semi = std::min(disposition.find(';'), disposition.size());
    const auto params = split_params(disposition.substr(std::min(semi + 1, disposition.size())));
    if (!iequals(trim(disposition.substr(0, semi)), "form-data") || !params) {
      fail(where + "Content-Disposition " + quote(disposition) + " is not form-data; name=\"...\"");
    }
    const auto* name_param = find_param(*params, "name");
    if (name_param == nullptr) fail(where + "Content-Disposition " + quote(disposition) + " has no name");
    const auto name = unquote(*name_param);

    if (name == field) {
      if (found) {
        fail("more than one " + quote(field) + " part (parts " + std::to_string(found_in) + " and " +
             std::to_string(part) + "; allowed: one)");
      }
      const auto* filename = find_param(*params, "filename");
      found = FilePart{body.substr(content_start, content_end - content_start),
                       std::string(headers.content_type.value_or("")),
                       filename == nullptr ? std::string() : unquote(*filename)};
      found_in = part;
    }
    names.push_back(quote(name));
    pos = content_end + delimiter.size();
  }

  if (!found) {
    std::string listed;
    for (std::size_t i = 0; i < names.size() && i < 10; ++i) listed += (i == 0 ? "" : ", ") + names[i];
    if (names.size() > 10) listed += ", ...";
    fail("no " + quote(field) + " part in the form" +
         (names.empty() ? std::string(" (it has no parts)") : " (its parts: " + listed + ")"));
  }
  return std::move(*found);
}

}  // namespace pixelmill::server
