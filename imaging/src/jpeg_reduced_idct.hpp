#pragma once
// libjpeg's reduced-size "ISLOW" inverse DCTs (its jidctred.c: 2x2 and 1x1 samples
// from an 8x8 block; TurboJPEG uses them at 1/4 and 1/8 whatever the DCT method),
// written again for the split decoder (jpeg_split_decode.hpp). The constants are
// libjpeg's FIX(x) = round(x * 2^13), the shifts and rounding its own, so the samples
// are identical: the tests compare them with TurboJPEG's. Private to imaging/.
//
// Each size is a ReducedBlock<kOut> that takes a block's coefficients as the Huffman
// decoder produces them (the DC term, then the non-zero AC terms in zig-zag order),
// gives its samples, and can keep a record from which kept_samples gives them later
// with another DC term: a speculative segment learns its true DC terms only after it
// is decoded. Each returns false for a block whose samples libjpeg's builds need not
// agree on (below); the caller then leaves the file to libjpeg.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

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
  // 2x2: per zig-zag position, the accumulator it adds to (ReducedBlock<2>), its
  // quantiser times the first-pass constant of its row, and the largest coefficient
  // magnitude whose dequantised value fits 16 bits.
  std::array<std::uint8_t, 64> target{};
  std::array<std::int32_t, 64> factor{};
  std::array<std::int32_t, 64> limit{};
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
  // libjpeg has no SIMD 1x1 transform, so every build computes what this does.
  bool samples(std::uint8_t* out, std::ptrdiff_t /*stride*/) const {
    out[0] = sample(dc_, q0_);
    return true;
  }
  bool keep(std::int16_t* record) const {
    record[0] = dc_;
    return true;
  }
  static std::int16_t kept_dc(const std::int16_t* record) { return record[0]; }
  static bool kept_samples(const std::int16_t* /*record*/, std::int16_t dc, const Dequant& d, std::uint8_t* out,
                           std::ptrdiff_t /*stride*/) {
    out[0] = sample(dc, d.q[0]);
    return true;
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
// The second pass gives four sums before the final rounding, and the dequantised DC
// term dq0 adds exactly dq0 * 2^17 to each (4 * dq0 to column 0's first pass, times
// 2^15): that is how a kept block takes its true DC term later. A kept block stores
// the sums without it, and only floor(rest / 2^17), in 16 bits: with rest = r * 2^17
// + b (0 <= b < 2^17) the final rounding (dq0 * 2^17 + rest + 2^19) >> 20 is
// floor((r + dq0 + 4) / 8 + b / 2^20), and b / 2^20 < 1/8 cannot carry past an
// integer, so it is (r + dq0 + 4) >> 3. A block whose samples libjpeg's builds agree
// on (below) has |r| < 2^14. 10 bytes a block instead of the 40 of four int64 sums
// and a DC term.
//
// Where libjpeg's builds agree. TurboJPEG on x86-64 runs libjpeg-turbo's SSE2 version
// of this transform, which dequantises in 16 bits (pmullw wraps), saturates the first
// pass's outputs to 16 bits (packssdw), adds in 32 bits and clamps the result, where
// jidctred.c computes in 32/64 bits and wraps the result through its range-limit
// table. On real photos they agree; on wild coefficients (corrupt data: fuzz_split
// found one at 1/2, from 16-bit wrapping) they do not. So a block is only taken
// while both give the same samples, which holds when: every dequantised AC term fits
// 16 bits; the DC term's is within +-8191; the first pass's outputs for columns 1, 3,
// 5, 7 fit 16 bits and column 0's odd part (descaled) does too, so that column 0's
// outputs (4 * dq0 + that) stay within +-2^16 and the second pass's shift of them by
// 15 bits fits 32; and every result before the clamp is within +-511, where the range
// table clamps too. Real photos stay far inside all of these (|dq0| <= ~1100).
// Exact while no int cast wraps, which 8-bit quantisers and these bounds ensure.
template <>
class ReducedBlock<2> {
 public:
  static constexpr bool kUsesAc = true;
  static constexpr int kRecordSlots = 4 + 1;  // the four r, the DC term
  static constexpr int kUnused = 10;          // accumulator of the positions 2x2 ignores

  void start(const Dequant& d, std::int16_t dc) {
    d_ = &d;
    dc_ = dc;
    wild_ = false;
    acc_ = {};
    acc_[0] = std::int64_t{dc} * d.q[0] * (1 << 15);
  }
  void put_ac(int k, int value) {
    const auto z = static_cast<std::size_t>(k);
    const std::int32_t limit = d_->limit[z];
    wild_ |= static_cast<std::uint32_t>(value + limit) > static_cast<std::uint32_t>(2 * limit);
    acc_[d_->target[z]] += std::int64_t{value} * d_->factor[z];
  }
  bool samples(std::uint8_t* out, std::ptrdiff_t stride) const {
    std::int64_t x[4];
    if (!sums(x) || !dc_agrees(dc_, *d_)) return false;
    std::int64_t v[4];
    bool outside = false;
    for (int k = 0; k < 4; ++k) {
      v[k] = descale(x[k], 20);
      outside |= !within(v[k], kResultBound);
    }
    if (outside) return false;
    put(v, out, stride);
    return true;
  }
  bool keep(std::int16_t* record) const {
    std::int64_t x[4];
    if (!sums(x)) return false;
    const std::int64_t dq0 = std::int64_t{dc_} * d_->q[0];
    bool outside = false;
    for (int k = 0; k < 4; ++k) {
      const std::int64_t r = (x[k] - dq0 * (1 << 17)) >> 17;
      outside |= !within(r, kWord);  // never for a block the DC check and result bound let through
      record[k] = static_cast<std::int16_t>(r);
    }
    record[4] = dc_;
    return !outside;
  }
  static std::int16_t kept_dc(const std::int16_t* record) { return record[4]; }
  static bool kept_samples(const std::int16_t* record, std::int16_t dc, const Dequant& d, std::uint8_t* out,
                           std::ptrdiff_t stride) {
    if (!dc_agrees(dc, d)) return false;
    const std::int64_t dq0 = std::int64_t{dc} * d.q[0];
    std::int64_t v[4];
    bool outside = false;
    for (int k = 0; k < 4; ++k) {
      v[k] = (record[k] + dq0 + 4) >> 3;
      outside |= !within(v[k], kResultBound);
    }
    if (outside) return false;
    put(v, out, stride);
    return true;
  }

 private:
  static constexpr std::int64_t kWord = 32767, kDcBound = 8191, kResultBound = 511;

  // |v| <= bound, one compare.
  static bool within(std::int64_t v, std::int64_t bound) {
    return static_cast<std::uint64_t>(v + bound) <= static_cast<std::uint64_t>(2 * bound);
  }
  // Rows of two samples `stride` apart: written one byte at a time, never through a
  // small buffer read back as wider words (a store-forwarding stall that cost the
  // deferred pass a fifth of its time).
  // Within +-511 (checked) libjpeg's range table is a plain clamp of v + 128.
  static void put(const std::int64_t (&v)[4], std::uint8_t* out, std::ptrdiff_t stride) {
    const auto clamp = [](std::int64_t x) {
      return static_cast<std::uint8_t>(std::clamp<std::int64_t>(x + 128, 0, 255));
    };
    out[0] = clamp(v[0]);
    out[1] = clamp(v[1]);
    out[stride] = clamp(v[2]);
    out[stride + 1] = clamp(v[3]);
  }
  static bool dc_agrees(std::int16_t dc, const Dequant& d) { return within(std::int64_t{dc} * d.q[0], kDcBound); }

  // The four sums; false when the block leaves the range where libjpeg's builds agree
  // in a way its DC term cannot change (see above).
  // acc_[j] = even_j, acc_[5 + j] = odd_j for column rank j (columns 0, 1, 3, 5, 7).
  bool sums(std::int64_t (&x)[4]) const {
    bool outside = wild_ || !within(descale(acc_[5], 13), kWord) || !within(descale(-acc_[5], 13), kWord);
    std::int64_t ws[2][5];
    for (int j = 0; j < 5; ++j) {
      ws[0][j] = descale(acc_[j] + acc_[5 + j], 13);
      ws[1][j] = descale(acc_[j] - acc_[5 + j], 13);
    }
    for (int j = 1; j < 5; ++j) outside |= !within(ws[0][j], kWord) || !within(ws[1][j], kWord);
    if (outside) return false;
    for (int r = 0; r < 2; ++r) {
      const std::int64_t* w = ws[r];
      const std::int64_t even = w[0] * (1 << 15);
      const std::int64_t odd = w[4] * -5906 + w[3] * 6967 + w[2] * -10426 + w[1] * 29692;
      x[r * 2] = even + odd;
      x[r * 2 + 1] = even - odd;
    }
    return true;
  }

  const Dequant* d_ = nullptr;
  std::int16_t dc_ = 0;
  bool wild_ = false;  // an AC term whose dequantised value does not fit 16 bits
  std::array<std::int64_t, 11> acc_{};
};

}  // namespace pixelmill::imaging
