#pragma once
// ImageId: the content address of a stored original — the SHA-256 of its bytes as 64
// lowercase hex characters.
//
// An ImageId can only be made by parse_image_id (which accepts exactly 64 chars of
// [0-9a-f] and nothing else) or by compute_image_id, so a value of this type is always
// safe to turn into a filesystem path: nothing from a URL reaches the store unchecked.
// Immutable value type; safe to share between threads.
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pixelmill::storage {

class ImageId {
public:
  static constexpr std::size_t kLength = 64;  // hex chars (32-byte SHA-256)

  [[nodiscard]] const std::string& str() const noexcept { return hex_; }

  friend bool operator==(const ImageId&, const ImageId&) = default;
  friend std::strong_ordering operator<=>(const ImageId&, const ImageId&) = default;

private:
  explicit ImageId(std::string hex) : hex_(std::move(hex)) {}

  std::string hex_;

  friend std::optional<ImageId> parse_image_id(std::string_view text);
  friend std::optional<ImageId> compute_image_id(std::span<const std::uint8_t> bytes,
                                                 const std::function<bool()>& between_chunks);
};

// The id if `text` is exactly 64 characters of [0-9a-f]; nullopt for anything else
// (wrong length, uppercase, '/', '.', NUL, ...).
[[nodiscard]] std::optional<ImageId> parse_image_id(std::string_view text);

// SHA-256 of `bytes` (OpenSSL EVP). Throws std::runtime_error only if OpenSSL fails.
[[nodiscard]] ImageId compute_image_id(std::span<const std::uint8_t> bytes);
// The same, calling `between_chunks` (if set) between 256 KiB chunks, about 0.15 ms
// apart: for a hash run beside other work, which can give way to that work there, and
// stop (return false: the result is std::nullopt) when that work failed.
[[nodiscard]] std::optional<ImageId> compute_image_id(std::span<const std::uint8_t> bytes,
                                                      const std::function<bool()>& between_chunks);

std::ostream& operator<<(std::ostream& os, const ImageId& id);

}  // namespace pixelmill::storage

template <>
struct std::hash<pixelmill::storage::ImageId> {
  std::size_t operator()(const pixelmill::storage::ImageId& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
