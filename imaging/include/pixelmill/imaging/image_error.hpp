#pragma once
// The one exception type imaging/ throws for anything wrong with an image (as opposed
// to bugs or resource exhaustion, which stay std::bad_alloc / std::logic_error ...).
//
// The message is user-facing: the server sends it verbatim as the problem+json
// `detail`, so it names what was found and what is accepted, never an internal path.
// imaging/ knows nothing of HTTP; the server maps the kind to a status:
//   unsupported_format -> 415   (not one of the accepted formats, by magic bytes)
//   malformed          -> 415   (accepted magic, but the header is unreadable)
//   over_limit         -> 422   (dimensions / pixel count over the source limits)
//   undecodable        -> 415   (header fine, pixel data could not be decoded)
#include <stdexcept>
#include <string>
#include <string_view>

namespace pixelmill::imaging {

class ImageError : public std::runtime_error {
public:
  enum class Kind { unsupported_format, malformed, over_limit, undecodable };

  ImageError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ImageError(Kind kind, const char* message) : std::runtime_error(message), kind_(kind) {}

  [[nodiscard]] Kind kind() const noexcept { return kind_; }

private:
  Kind kind_;
};

// "unsupported_format", "malformed", "over_limit", "undecodable" (for logs and metrics).
[[nodiscard]] constexpr std::string_view to_string(ImageError::Kind kind) noexcept {
  switch (kind) {
    case ImageError::Kind::unsupported_format: return "unsupported_format";
    case ImageError::Kind::malformed: return "malformed";
    case ImageError::Kind::over_limit: return "over_limit";
    case ImageError::Kind::undecodable: return "undecodable";
  }
  return "unknown";
}

}  // namespace pixelmill::imaging
