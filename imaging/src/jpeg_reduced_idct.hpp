#pragma once
// libjpeg's reduced-size "ISLOW" inverse DCTs (its jidctred.c: 4x4, 2x2 and 1x1
// samples from an 8x8 block; TurboJPEG uses them at 1/2, 1/4 and 1/8 whatever the DCT
// method), written again for the split decoder (jpeg_split_decode.hpp). The constants
// are libjpeg's FIX(x) = round(x * 2^13), the shifts and rounding its own, so the
// samples are identical: the tests compare them with TurboJPEG's. Private to imaging/.
//
// Each size is a ReducedBlock<kOut> that takes a block's coefficients as the Huffman
// decoder produces them (the DC term, then the non-zero AC terms in zig-zag order),
// gives its samples, and can keep a record from which kept_samples gives them later
// with another DC term: a speculative segment learns its true DC terms only after it
// is decoded.
#include <array>
#include <cstdint>
#include <cstring>

namespace pixelmill::imaging {

// Natural (row-major) index of the k-th coefficient in zig-zag order.
inline constexpr std::array<std::uint8_t, 64> kNatural = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

// libjpeg's post-IDCT range limit (prepare_range_limit_table): the value plus 128,
// clamped to 0..255 within +-512; masked to 10 bits first, so that wild values from
// corrupt data wrap the way libjpeg's do.
inline std::uint8_t range_limit(std::int64_t x) {
  const int i = static_cast<int>(x) & 1023;
  return static_cast<std::uint8_t>(i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896);
}

inline std::int64_t descale(std::int64_t x, int n) { return (x + (std::int64_t{1} << (n - 1))) >> n; }

// One component's quantisers, and what the 2x2 transform makes of them.
struct Dequant {
  std::array<std::int16_t, 64> q{};  // natural order; 16-bit signed as libjpeg keeps them
  // 2x2: per zig-zag position, the accumulator it adds to (ReducedBlock<2>) and its
  // quantiser times the first-pass constant of its row.
  std::array<std::uint8_t, 64> target{};
  std::array<std::int32_t, 64> factor{};
};

// `natural`: the DQT table in natural order. The 2x2 factors assume quantisers up to
// 255 (8-bit tables); callers with 16-bit tables do not use ReducedBlock<2>.
Dequant make_dequant(const std::array<std::uint16_t, 64>& natural);

template <int kOut>
class ReducedBlock;

// 1x1: the DC term divided by 8.
template <>
class ReducedBlock<1> {
 public:
  static constexpr bool kUsesAc = false;
  static constexpr int kRecordSlots = 1;  // int16 per kept block

  void start(const Dequant& d, std::int16_t dc) {
    q0_ = d.q[0];
    dc_ = dc;
  }
  void put_ac(int /*k*/, int /*value*/) {}
  void samples(std::uint8_t* out) const { out[0] = sample(dc_, q0_); }
  void keep(std::int16_t* record) const { record[0] = dc_; }
  static std::int16_t kept_dc(const std::int16_t* record) { return record[0]; }
  static void kept_samples(const std::int16_t* /*record*/, std::int16_t dc, const Dequant& d, std::uint8_t* out) {
    out[0] = sample(dc, d.q[0]);
  }

 private:
  static std::uint8_t sample(std::int16_t dc, std::int16_t q0) { return range_limit(descale(std::int64_t{dc} * q0, 3)); }
  std::int16_t q0_ = 0, dc_ = 0;
};

// 2x2: libjpeg reads rows and columns 0, 1, 3, 5, 7. Its first pass, per column j,
// is descale(even_j +- odd_j, 13) with even_j = dq(0, j) * 2^15 and odd_j a sum of
// dq(r, j) times a constant per row: both are accumulated as the coefficients arrive,
// so a block costs one multiply-add per non-zero coefficient and no zeroing of 64.
// (libjpeg's shortcuts for all-zero AC columns and rows give what the full formulas
// give: descale(dq0 * 2^15, 13) == dq0 * 4, descale(w0 * 2^15, 20) == descale(w0, 5).)
// The second pass gives four sums before the final rounding; a DC term larger by d
// (dequantised) makes each exactly d * 2^17 larger, which is how a kept block takes
// its true DC term later. Exact while no int cast wraps, which 8-bit quantisers ensure
// (|sums| < 2^45).
template <>
class ReducedBlock<2> {
 public:
  static constexpr bool kUsesAc = true;
  static constexpr int kRecordSlots = 4 * 4 + 4;  // four int64 sums, the DC term, padding
  static constexpr int kUnused = 10;              // accumulator of the positions 2x2 ignores

  void start(const Dequant& d, std::int16_t dc) {
    d_ = &d;
    dc_ = dc;
    acc_ = {};
    acc_[0] = std::int64_t{dc} * d.q[0] * (1 << 15);
  }
  void put_ac(int k, int value) { acc_[d_->target[k]] += std::int64_t{value} * d_->factor[k]; }
  void samples(std::uint8_t* out) const {
    std::int64_t x[4];
    sums(x);
    finish(x, 0, out);
  }
  void keep(std::int16_t* record) const {
    std::int64_t x[4];
    sums(x);
    std::memcpy(record, x, sizeof x);
    record[16] = dc_;
  }
  static std::int16_t kept_dc(const std::int16_t* record) { return record[16]; }
  static void kept_samples(const std::int16_t* record, std::int16_t dc, const Dequant& d, std::uint8_t* out) {
    std::int64_t x[4];
    std::memcpy(x, record, sizeof x);
    finish(x, (std::int64_t{dc} - record[16]) * d.q[0] * (1 << 17), out);
  }

 private:
  // acc_[j] = even_j, acc_[5 + j] = odd_j for column rank j (columns 0, 1, 3, 5, 7).
  void sums(std::int64_t (&x)[4]) const {
    std::int64_t ws[2][5];
    for (int j = 0; j < 5; ++j) {
      ws[0][j] = static_cast<int>(descale(acc_[j] + acc_[5 + j], 13));
      ws[1][j] = static_cast<int>(descale(acc_[j] - acc_[5 + j], 13));
    }
    for (int r = 0; r < 2; ++r) {
      const std::int64_t* w = ws[r];
      const std::int64_t even = w[0] * (1 << 15);
      const std::int64_t odd = w[4] * -5906 + w[3] * 6967 + w[2] * -10426 + w[1] * 29692;
      x[r * 2] = even + odd;
      x[r * 2 + 1] = even - odd;
    }
  }
  static void finish(const std::int64_t (&x)[4], std::int64_t shift, std::uint8_t* out) {
    for (int k = 0; k < 4; ++k) out[k] = range_limit(descale(x[k] + shift, 20));
  }

  const Dequant* d_ = nullptr;
  std::int16_t dc_ = 0;
  std::array<std::int64_t, 11> acc_{};
};

// 4x4: libjpeg reads every row and column but 4; the coefficients are kept as they are.
template <>
class ReducedBlock<4> {
 public:
  static constexpr bool kUsesAc = true;
  static constexpr int kRecordSlots = 64;

  void start(const Dequant& d, std::int16_t dc) {
    d_ = &d;
    c_ = {};
    c_[0] = dc;
  }
  void put_ac(int k, int value) { c_[kNatural[static_cast<std::size_t>(k)]] = static_cast<std::int16_t>(value); }
  void samples(std::uint8_t* out) const { idct(c_.data(), d_->q.data(), out); }
  void keep(std::int16_t* record) const { std::memcpy(record, c_.data(), sizeof c_); }
  static std::int16_t kept_dc(const std::int16_t* record) { return record[0]; }
  static void kept_samples(const std::int16_t* record, std::int16_t dc, const Dequant& d, std::uint8_t* out) {
    std::array<std::int16_t, 64> c;
    std::memcpy(c.data(), record, sizeof c);
    c[0] = dc;
    idct(c.data(), d.q.data(), out);
  }

 private:
  static void idct(const std::int16_t* c, const std::int16_t* q, std::uint8_t* out);

  const Dequant* d_ = nullptr;
  std::array<std::int16_t, 64> c_{};
};

}  // namespace pixelmill::imaging
