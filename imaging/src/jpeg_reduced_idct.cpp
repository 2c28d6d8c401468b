// libjpeg's reduced-size inverse DCTs, bit-exact. See jpeg_reduced_idct.hpp.
#include "jpeg_reduced_idct.hpp"

namespace pixelmill::imaging {

namespace {

// 2x2: rank of a row or column among 0, 1, 3, 5, 7 (-1: not read), and the first
// pass's constant per row: 2^15 for row 0 (the even part), the odd part's for the rest.
constexpr std::array<int, 8> kRank2 = {0, 1, -1, 2, -1, 3, -1, 4};
constexpr std::array<std::int32_t, 8> kRowFactor2 = {1 << 15, 29692, 0, -10426, 0, 6967, 0, -5906};

// One 8-to-4 step of the 4x4 transform over v(0..7) (v(4) is never read); `shift`:
// the descale of its outputs.
template <class Get>
void step_4(const Get& v, int shift, std::int64_t (&result)[4]) {
  const std::int64_t t0 = v(0) * (1 << 14);
  const std::int64_t t2 = v(2) * 15137 + v(6) * -6270;
  const std::int64_t t10 = t0 + t2, t12 = t0 - t2;
  const std::int64_t z1 = v(7), z2 = v(5), z3 = v(3), z4 = v(1);
  const std::int64_t o0 = z1 * -1730 + z2 * 11893 + z3 * -17799 + z4 * 8697;
  const std::int64_t o2 = z1 * -4176 + z2 * -4926 + z3 * 7373 + z4 * 20995;
  result[0] = descale(t10 + o2, shift);
  result[3] = descale(t10 - o2, shift);
  result[1] = descale(t12 + o0, shift);
  result[2] = descale(t12 - o0, shift);
}

}  // namespace

Dequant make_dequant(const std::array<std::uint16_t, 64>& natural) {
  Dequant d;
  for (std::size_t n = 0; n < 64; ++n) d.q[n] = static_cast<std::int16_t>(natural[n]);
  for (std::size_t k = 0; k < 64; ++k) {
    const std::size_t n = kNatural[k], row = n / 8, col = n % 8;
    const int rank = kRank2[col];
    if (rank < 0 || kRank2[row] < 0) {
      d.target[k] = ReducedBlock<2>::kUnused;
      continue;
    }
    d.target[k] = static_cast<std::uint8_t>(row == 0 ? rank : 5 + rank);
    d.factor[k] = d.q[n] * kRowFactor2[row];
  }
  return d;
}

void ReducedBlock<4>::idct(const std::int16_t* c, const std::int16_t* q, std::uint8_t* out) {
  std::int64_t ws[4][8] = {};
  for (int col = 0; col < 8; ++col) {
    if (col == 4) continue;  // the second pass does not read it
    const auto dq = [&](int r) { return std::int64_t{c[r * 8 + col]} * q[r * 8 + col]; };
    bool ac_zero = true;
    for (const int r : {1, 2, 3, 5, 6, 7}) ac_zero = ac_zero && c[r * 8 + col] == 0;
    if (ac_zero) {
      for (auto& row : ws) row[col] = static_cast<int>(dq(0) * 4);
      continue;
    }
    std::int64_t column[4];
    step_4(dq, 12, column);
    for (int r = 0; r < 4; ++r) ws[r][col] = static_cast<int>(column[r]);
  }
  for (int r = 0; r < 4; ++r) {
    const std::int64_t* w = ws[r];
    if (w[1] == 0 && w[2] == 0 && w[3] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0) {
      const std::uint8_t value = range_limit(descale(w[0], 5));
      for (int k = 0; k < 4; ++k) out[r * 4 + k] = value;
      continue;
    }
    std::int64_t row[4];
    step_4([&](int k) { return w[k]; }, 19, row);
    for (int k = 0; k < 4; ++k) out[r * 4 + k] = range_limit(row[k]);
  }
}

}  // namespace pixelmill::imaging
