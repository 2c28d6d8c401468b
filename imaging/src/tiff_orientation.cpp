// The Orientation tag of a TIFF structure's first IFD. See tiff_orientation.hpp.
#include "tiff_orientation.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

namespace pixelmill::imaging {

namespace {

constexpr std::uint64_t kOrientationTag = 0x0112;

// Where the Orientation value sits: `size` bytes at `offset`, in the file's byte order.
struct ValueField {
  std::size_t offset = 0;
  std::size_t size = 0;
  bool little = true;
};

std::uint64_t read_uint(const unsigned char* p, std::size_t size, bool little) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value = (value << 8) | p[little ? size - 1 - i : i];
  return value;
}

void write_uint(unsigned char* p, std::size_t size, bool little, std::uint64_t value) noexcept {
  for (std::size_t i = 0; i < size; ++i) p[little ? i : size - 1 - i] = static_cast<unsigned char>(value >> (8 * i));
}

// Bytes per value of the integer types libtiff accepts for Orientation; 0 for others.
std::size_t integer_size(std::uint64_t type) noexcept {
  switch (type) {
    case 1: case 6: return 1;    // BYTE, SBYTE
    case 3: case 8: return 2;    // SHORT (the standard type), SSHORT
    case 4: case 9: return 4;    // LONG, SLONG (seen in the wild)
    case 16: case 17: return 8;  // LONG8, SLONG8 (BigTIFF only)
    default: return 0;
  }
}

// Classic TIFF: version 42, 4-byte offsets, 2-byte entry count, 12-byte entries.
// BigTIFF: version 43, 8-byte offsets, 8-byte entry count, 20-byte entries.
// An entry is tag (2), type (2), count (offset size), value (offset size; inline when
// it fits, which a single integer always does).
std::optional<ValueField> find_orientation(std::span<const unsigned char> tiff) noexcept {
  const unsigned char* p = tiff.data();
  const std::size_t n = tiff.size();
  if (n < 8) return std::nullopt;
  bool little = false;
  if (p[0] == 'I' && p[1] == 'I') {
    little = true;
  } else if (p[0] != 'M' || p[1] != 'M') {
    return std::nullopt;
  }
  const auto u = [&](std::size_t at, std::size_t size) { return read_uint(p + at, size, little); };
  const std::uint64_t version = u(2, 2);
  const bool big = version == 43;
  if (!big && version != 42) return std::nullopt;
  if (big && (n < 16 || u(4, 2) != 8 || u(6, 2) != 0)) return std::nullopt;
  const std::size_t offset_size = big ? 8 : 4, count_size = big ? 8 : 2, entry_size = big ? 20 : 12;

  const std::uint64_t ifd = u(big ? 8 : 4, offset_size);
  if (ifd < 8 || ifd > n || n - ifd < count_size) return std::nullopt;
  const std::uint64_t count = u(ifd, count_size);
  const std::size_t first = ifd + count_size;
  const std::uint64_t whole_entries = (n - first) / entry_size;  // bounds every read below
  for (std::uint64_t i = 0; i < count && i < whole_entries; ++i) {
    const std::size_t entry = first + i * entry_size;
    if (u(entry, 2) != kOrientationTag) continue;
    const std::size_t size = integer_size(u(entry + 2, 2));
    if (size == 0 || u(entry + 4, offset_size) != 1) return std::nullopt;
    return ValueField{entry + 4 + offset_size, size, little};
  }
  return std::nullopt;
}

}  // namespace

int exif_orientation(std::span<const unsigned char> tiff) noexcept {
  constexpr unsigned char exif_prefix[] = {'E', 'x', 'i', 'f', 0, 0};
  if (tiff.size() >= sizeof exif_prefix && std::memcmp(tiff.data(), exif_prefix, sizeof exif_prefix) == 0) {
    tiff = tiff.subspan(sizeof exif_prefix);
  }
  const auto field = find_orientation(tiff);
  if (!field) return 1;
  const std::uint64_t value = read_uint(tiff.data() + field->offset, field->size, field->little);
  return (value >= 1 && value <= 8) ? static_cast<int>(value) : 1;
}

bool reset_orientation(std::span<unsigned char> tiff) noexcept {
  const auto field = find_orientation(tiff);
  if (!field) return false;
  write_uint(tiff.data() + field->offset, field->size, field->little, 1);
  return true;
}

}  // namespace pixelmill::imaging
