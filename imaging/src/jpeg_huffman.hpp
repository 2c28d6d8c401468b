#pragma once
// Baseline JPEG Huffman decoding for the split decoder (jpeg_split_decode.hpp): the
// DQT and DHT tables of a header, a bit reader over entropy-coded data whose stuffed
// zero bytes are already removed, and the decoding of one code with its magnitude
// bits. Behaves as libjpeg's decoder does (jdhuff.c) wherever the data is valid, and
// reports what libjpeg would warn about instead of guessing. Private to imaging/.
#include <array>
#include <cstdint>
#include <cstring>
#include <span>

#include "jpeg_restart.hpp"

namespace pixelmill::imaging {

// One DHT table, ready for decoding.
struct HuffmanTable {
  static constexpr int kFastBits = 9;
  std::array<std::uint16_t, 1 << kFastBits> fast{};  // (length << 8) | symbol; 0: a longer code
  // Code and magnitude bits together, for the codes whose both fit in kValueBits:
  // bits consumed (0: not here), run (kEndOfBlock for EOB), the signed value.
  static constexpr int kValueBits = 11;
  static constexpr int kEndOfBlock = 0xFF;
  std::array<std::uint32_t, 1 << kValueBits> decoded{};
  std::array<std::int32_t, 17> max_code{};            // per length; -1: no code that long
  std::array<std::int32_t, 17> value_offset{};
  std::array<std::uint8_t, 256> values{};
  bool defined = false;
};

// The quantisation and Huffman tables defined before the scan.
struct Tables {
  std::array<HuffmanTable, 4> dc, ac;
  std::array<std::array<std::uint16_t, 64>, 4> quant{};  // natural order
  std::array<bool, 4> quant_defined{};
};

// DQT and DHT segments of `layout.header_segments` in file order (a later
// definition replaces an earlier one). False on a table libjpeg would refuse.
[[nodiscard]] bool read_tables(std::span<const std::uint8_t> jpeg, const RestartLayout& layout, Tables& tables);

// The signed value of `size` (1..15) magnitude bits at the top of `bits` (JPEG's EXTEND).
inline int extend(std::uint64_t bits, int size) {
  const auto v = static_cast<int>(bits >> (64 - size));
  return v < (1 << (size - 1)) ? v - (1 << size) + 1 : v;
}

// What libjpeg's decoder does with a symbol: DC, the magnitude size; AC, run and size,
// where size 0 is ZRL (run 15: sixteen zeros) or, for any other run, the end of block.
struct Meaning {
  int run = 0, size = 0;
};

inline Meaning meaning(int symbol, bool dc) {
  if (dc) return {0, symbol};
  const int run = symbol >> 4, size = symbol & 15;
  if (size == 0) return {run == 15 ? 15 : HuffmanTable::kEndOfBlock, 0};
  return {run, size};
}

// An MSB-first bit reader over the unstuffed data (Giesen's "variant 4": a branch-free
// refill before each code). `bits` holds the next `count` bits at the top, and
// `next` * 8 == position + count.
struct BitReader {
  const std::uint8_t* data;
  const std::uint8_t* next;
  std::uint64_t bits = 0;
  unsigned count = 0;

  BitReader(const std::uint8_t* d, std::uint64_t position) : data(d), next(d + (position >> 3)) {
    refill();
    consume(static_cast<unsigned>(position & 7));
  }
  // At least 56 bits after a refill: one code and its magnitude need at most 31.
  void refill() {
    std::uint64_t word;
    std::memcpy(&word, next, sizeof word);
    bits |= __builtin_bswap64(word) >> count;
    next += (63 - count) >> 3;
    count |= 56;
  }
  void consume(unsigned n) {
    bits <<= n;
    count -= n;
  }
  [[nodiscard]] std::uint64_t position() const { return static_cast<std::uint64_t>(next - data) * 8 - count; }
};

// The symbol at the top of `bits` and its code length. False for a bad code (libjpeg
// warns): the length is then 1 and the symbol 0.
[[nodiscard]] bool decode_symbol(const HuffmanTable& t, std::uint64_t bits, int& length, int& symbol);

// The next code and its magnitude bits: consumed bits, run, value, as in
// HuffmanTable::decoded. `ok` turns false on a bad code.
struct Decoded {
  unsigned consumed;
  int run, value;
};

[[gnu::always_inline]] inline Decoded decode_next(const HuffmanTable& t, std::uint64_t bits, bool dc, bool& ok) {
  const std::uint32_t e = t.decoded[bits >> (64 - HuffmanTable::kValueBits)];
  if (e != 0) return {e & 0xFF, static_cast<int>((e >> 8) & 0xFF), static_cast<std::int16_t>(e >> 16)};
  int length = 0, symbol = 0;
  ok = decode_symbol(t, bits, length, symbol) && ok;
  const Meaning m = meaning(symbol, dc);
  return {static_cast<unsigned>(length + m.size), m.run, m.size == 0 ? 0 : extend(bits << length, m.size)};
}

}  // namespace pixelmill::imaging
