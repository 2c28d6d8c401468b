#include "pixelmill/storage/image_id.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <ostream>
#include <stdexcept>

namespace pixelmill::storage {

std::optional<ImageId> parse_image_id(std::string_view text) {
  if (text.size() != ImageId::kLength) return std::nullopt;
  const bool valid = std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (!valid) return std::nullopt;
  return ImageId(std::string(text));
}

ImageId compute_image_id(std::span<const std::uint8_t> bytes) {
  static constexpr std::uint8_t kNoBytes = 0;  // EVP_Digest wants a pointer even for 0 bytes
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const void* data = bytes.empty() ? &kNoBytes : static_cast<const void*>(bytes.data());
  if (EVP_Digest(data, bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1 || length != 32) {
    throw std::runtime_error("SHA-256 (OpenSSL EVP_Digest) failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(ImageId::kLength, '0');
  for (unsigned int i = 0; i < length; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0x0f];
  }
  return ImageId(std::move(hex));
}

std::ostream& operator<<(std::ostream& os, const ImageId& id) { return os << id.str(); }

}  // namespace pixelmill::storage
