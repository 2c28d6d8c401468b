#include "pixelmill/storage/image_id.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
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

std::optional<ImageId> compute_image_id(std::span<const std::uint8_t> bytes,
                                        const std::function<bool()>& between_chunks) {
  // The digest is the same as one EVP_Digest call; the chunks are only for the caller.
  static constexpr std::size_t kChunk = std::size_t{256} << 10;
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 (OpenSSL EVP_DigestInit_ex) failed");
  }
  for (std::size_t at = 0; at < bytes.size(); at += kChunk) {
    if (at > 0 && between_chunks && !between_chunks()) return std::nullopt;
    const std::size_t n = std::min(kChunk, bytes.size() - at);
    if (EVP_DigestUpdate(ctx.get(), bytes.data() + at, n) != 1) {
      throw std::runtime_error("SHA-256 (OpenSSL EVP_DigestUpdate) failed");
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1 || length != 32) {
    throw std::runtime_error("SHA-256 (OpenSSL EVP_DigestFinal_ex) failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(ImageId::kLength, '0');
  for (unsigned int i = 0; i < length; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0x0f];
  }
  return ImageId(std::move(hex));
}

ImageId compute_image_id(std::span<const std::uint8_t> bytes) {
  return *compute_image_id(bytes, nullptr);
}

std::ostream& operator<<(std::ostream& os, const ImageId& id) { return os << id.str(); }

}  // namespace pixelmill::storage
