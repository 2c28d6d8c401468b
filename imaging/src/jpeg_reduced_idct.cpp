// libjpeg's reduced-size inverse DCTs, bit-exact. See jpeg_reduced_idct.hpp.
#include "jpeg_reduced_idct.hpp"

namespace pixelmill::imaging {

namespace {

// 2x2: rank of a row or column among 0, 1, 3, 5, 7 (-1: not read), and the first
// pass's constant per row: 2^15 for row 0 (the even part), the odd part's for the rest.
constexpr std::array<int, 8> kRank2 = {0, 1, -1, 2, -1, 3, -1, 4};
constexpr std::array<std::int32_t, 8> kRowFactor2 = {1 << 15, 29692, 0, -10426, 0, 6967, 0, -5906};
// Above any coefficient's magnitude (15 bits).
constexpr std::int32_t kUnlimited = 1 << 20;

}  // namespace

Dequant make_dequant(const std::array<std::uint16_t, 64>& natural) {
  Dequant d;
  for (std::size_t n = 0; n < 64; ++n) d.q[n] = static_cast<std::int16_t>(natural[n]);
  for (std::size_t k = 0; k < 64; ++k) {
    const std::size_t n = kNatural[k], row = n / 8, col = n % 8;
    const int rank = kRank2[col];
    if (rank < 0 || kRank2[row] < 0) {
      d.target[k] = ReducedBlock<2>::kUnused;
      d.limit[k] = kUnlimited;  // no build reads it
      continue;
    }
    d.target[k] = static_cast<std::uint8_t>(row == 0 ? rank : 5 + rank);
    d.factor[k] = d.q[n] * kRowFactor2[row];
    d.limit[k] = d.q[n] > 0 ? 32767 / d.q[n] : kUnlimited;
  }
  return d;
}

}  // namespace pixelmill::imaging
