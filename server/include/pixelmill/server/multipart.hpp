#pragma once
// A minimal multipart/form-data reader (RFC 7578 over RFC 2046 §5.1), just enough
// to take the uploaded file out of a POST body.
//
// Hand-written because nothing we build with has one: Boost 1.81 has no multipart
// parser (Beast parses HTTP messages, not bodies; Boost.URL only URLs), and the
// Debian packages we use (OpenCV, spdlog, toml++, prometheus-cpp, libjpeg/png/
// tiff/webp) have none either. The format is small; what matters is exactness:
// the file's bytes, CRLFs included, are returned as a view into the body, unchanged
// and uncopied.
//
// Accepted: a preamble before the first boundary and an epilogue after the last;
// transport padding (spaces, tabs) after a boundary; header names and the
// form-data / parameter names case-insensitive; parameter values quoted
// (backslash escapes) or bare tokens; other parts before and after the file.
// Lines must end in CRLF, as RFC 2046 requires. Every error is an HttpError 400
// with slug "bad-multipart" whose detail says what is wrong and where.

#include <optional>
#include <string>
#include <string_view>

namespace pixelmill::server {

// The boundary parameter of a multipart/form-data Content-Type (quoted or not,
// without the quotes), or std::nullopt when the type is not multipart/form-data,
// or the boundary is missing or not 1..70 of RFC 2046's bchars.
[[nodiscard]] std::optional<std::string_view> boundary_of(std::string_view content_type) noexcept;

// boundary_of(), or an HttpError 400 "bad-multipart" saying what is wrong.
[[nodiscard]] std::string_view require_boundary(std::string_view content_type);

struct FilePart {
  std::string_view content;  // into the body given to find_file_part: keep it alive
  std::string content_type;  // the part's Content-Type; "" when it has none
  std::string filename;      // Content-Disposition filename; "" when it has none
};

// The one part whose Content-Disposition is form-data with name="<field>". The
// whole body is checked (every part up to the closing boundary), so a truncated
// upload is an error even when the file part itself arrived complete. Throws
// HttpError 400 "bad-multipart" for a malformed body, an empty boundary, no such
// part, or more than one.
[[nodiscard]] FilePart find_file_part(std::string_view body, std::string_view boundary,
                                      std::string_view field = "file");

}  // namespace pixelmill::server
