// Baseline JPEG Huffman tables and decoding. See jpeg_huffman.hpp.
#include "jpeg_huffman.hpp"

#include <algorithm>

#include "jpeg_reduced_idct.hpp"  // kNatural

namespace pixelmill::imaging {

namespace {

using Bytes = std::span<const std::uint8_t>;

constexpr std::uint8_t kDht = 0xC4, kDqt = 0xDB;

void fill_decoded(HuffmanTable& t, int code, int len, int symbol, bool dc) {
  constexpr int kBits = HuffmanTable::kValueBits;
  const Meaning m = meaning(symbol, dc);
  if (len + m.size > kBits) return;
  for (int v = 0; v < (1 << m.size); ++v) {
    const int value = m.size == 0 ? 0 : extend(static_cast<std::uint64_t>(v) << (64 - m.size), m.size);
    const int first = ((code << m.size) | v) << (kBits - len - m.size);
    const auto entry = static_cast<std::uint32_t>(len + m.size) | static_cast<std::uint32_t>(m.run) << 8 |
                       static_cast<std::uint32_t>(static_cast<std::uint16_t>(value)) << 16;
    std::fill_n(t.decoded.begin() + first, 1 << (kBits - len - m.size), entry);
  }
}

// A DHT table as libjpeg accepts it (jpeg_make_d_derived_tbl): at most 256 symbols,
// no all-ones code, DC symbols 0..15. False otherwise (libjpeg would fail).
bool build_table(HuffmanTable& t, Bytes counts, Bytes symbols, bool dc) {
  t = HuffmanTable{};
  int code = 0, k = 0;
  for (int len = 1; len <= 16; ++len) {
    const int n = counts[static_cast<std::size_t>(len - 1)];
    t.max_code[static_cast<std::size_t>(len)] = -1;
    t.value_offset[static_cast<std::size_t>(len)] = k - code;
    for (int i = 0; i < n; ++i, ++code, ++k) {
      const std::uint8_t symbol = symbols[static_cast<std::size_t>(k)];
      if (dc && symbol > 15) return false;
      t.values[static_cast<std::size_t>(k)] = symbol;
      if (len <= HuffmanTable::kValueBits) fill_decoded(t, code, len, symbol, dc);
      if (len <= HuffmanTable::kFastBits) {
        const int first = code << (HuffmanTable::kFastBits - len), span = 1 << (HuffmanTable::kFastBits - len);
        std::fill_n(t.fast.begin() + first, span, static_cast<std::uint16_t>((len << 8) | symbol));
      }
    }
    if (n > 0) t.max_code[static_cast<std::size_t>(len)] = code - 1;
    if (code >= (1 << len)) return false;
    code <<= 1;
  }
  t.defined = true;
  return true;
}

}  // namespace

// DQT and DHT segments in file order (a later definition replaces an earlier one).
bool read_tables(Bytes jpeg, const RestartLayout& layout, Tables& tables) {
  for (const ByteRange& segment : layout.header_segments) {
    if (segment.size < 4) continue;
    const std::uint8_t code = jpeg[segment.offset + 1];
    Bytes body = jpeg.subspan(segment.offset + 4, segment.size - 4);
    if (code == kDqt) {
      while (!body.empty()) {
        const int precision = body[0] >> 4, id = body[0] & 0x0F;
        const std::size_t size = precision == 0 ? 64 : 128;
        if (precision > 1 || id > 3 || body.size() < 1 + size) return false;
        for (std::size_t k = 0; k < 64; ++k) {
          const int value = precision == 0 ? body[1 + k] : (body[1 + 2 * k] << 8) | body[2 + 2 * k];
          tables.quant[static_cast<std::size_t>(id)][kNatural[k]] = static_cast<std::uint16_t>(value);
        }
        tables.quant_defined[static_cast<std::size_t>(id)] = true;
        body = body.subspan(1 + size);
      }
    } else if (code == kDht) {
      while (!body.empty()) {
        if (body.size() < 17) return false;
        const int table_class = body[0] >> 4, id = body[0] & 0x0F;
        if (table_class > 1 || id > 3) return false;
        std::size_t count = 0;
        for (std::size_t i = 0; i < 16; ++i) count += body[1 + i];
        if (count > 256 || body.size() < 17 + count) return false;
        HuffmanTable& t = (table_class == 0 ? tables.dc : tables.ac)[static_cast<std::size_t>(id)];
        if (!build_table(t, body.subspan(1, 16), body.subspan(17, count), table_class == 0)) return false;
        body = body.subspan(17 + count);
      }
    }
  }
  return true;
}

// The symbol at the top of `bits` and its code length. False for a bad code (libjpeg
// warns): the length is then 1 and the symbol 0.
bool decode_symbol(const HuffmanTable& t, std::uint64_t bits, int& length, int& symbol) {
  const std::uint16_t fast = t.fast[bits >> (64 - HuffmanTable::kFastBits)];
  if (fast != 0) {
    length = fast >> 8;
    symbol = fast & 0xFF;
    return true;
  }
  for (int len = HuffmanTable::kFastBits + 1; len <= 16; ++len) {
    const auto code = static_cast<std::int32_t>(bits >> (64 - len));
    if (code <= t.max_code[static_cast<std::size_t>(len)]) {
      length = len;
      symbol = t.values[static_cast<std::size_t>((t.value_offset[static_cast<std::size_t>(len)] + code) & 0xFF)];
      return true;
    }
  }
  length = 1;
  symbol = 0;
  return false;
}

}  // namespace pixelmill::imaging
