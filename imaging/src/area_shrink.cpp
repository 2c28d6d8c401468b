// INTER_AREA shrinking in two fixed-point passes. See area_shrink.hpp.
#include "area_shrink.hpp"

#include <opencv2/core/utility.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pixelmill::imaging {
namespace {

// Weights in 1/16384ths; the column pass keeps 8 fractional bits, so its sums (at
// most 255 << 8) fit 16 bits and the row pass's (times 16384) fit 32. Rounding twice
// then moves a result by at most 1/512 of a level before the final rounding.
constexpr int kWeightBits = 14;
constexpr std::uint32_t kOne = 1u << kWeightBits;
constexpr int kMidBits = 8;
constexpr int kColumnShift = kWeightBits - kMidBits;
constexpr int kRowShift = kWeightBits + kMidBits;

// Each output sample's source samples along one axis: `count[d]` of them from
// `first[d]`, weighed by `weights[d * taps ...]`, which sum to 16384. Rows shorter than
// `taps` are padded with zero weights.
struct AxisTaps {
  int taps = 0;
  std::vector<int> first, count;
  std::vector<std::uint32_t> weights;
};

// OpenCV's cells (computeResizeAreaTab in imgproc/src/resize.cpp), so the same source
// samples count: output sample d covers source [d * scale, (d + 1) * scale), each
// source sample weighing its overlap over the cell's width, overlaps under 0.001
// dropped. The last cell is cut at the edge and weighs by what it covers.
AxisTaps area_taps(int source, int target) {
  const double scale = static_cast<double>(source) / target;
  AxisTaps axis;
  axis.taps = static_cast<int>(scale) + 2;  // a partial sample, whole ones, a partial one
  axis.first.resize(static_cast<std::size_t>(target));
  axis.count.resize(static_cast<std::size_t>(target));
  axis.weights.assign(static_cast<std::size_t>(target) * static_cast<std::size_t>(axis.taps), 0);
  std::vector<double> w;
  for (int d = 0; d < target; ++d) {
    const double f1 = d * scale, f2 = f1 + scale;
    const double cell = std::min(scale, source - f1);
    const int s2 = std::min(static_cast<int>(std::floor(f2)), source - 1);
    const int s1 = std::min(static_cast<int>(std::ceil(f1)), s2);
    w.clear();
    int first = s1;
    if (s1 - f1 > 1e-3) {
      first = s1 - 1;
      w.push_back((s1 - f1) / cell);
    }
    for (int s = s1; s < s2; ++s) w.push_back(1.0 / cell);
    if (f2 - s2 > 1e-3) w.push_back(std::min(std::min(f2 - s2, 1.0), cell) / cell);
    CV_Assert(!w.empty() && static_cast<int>(w.size()) <= axis.taps && first >= 0 &&
              first + static_cast<int>(w.size()) <= source);
    // In 1/16384ths, rounded cumulatively: they sum to exactly one (a flat image stays
    // flat) and each is within one unit of its true value, however many there are.
    std::uint32_t* out = &axis.weights[static_cast<std::size_t>(d) * static_cast<std::size_t>(axis.taps)];
    double total = 0;
    for (const double x : w) total += x;
    double cumulative = 0;
    std::uint32_t given = 0;
    for (std::size_t k = 0; k < w.size(); ++k) {
      cumulative += w[k];
      const auto upto = static_cast<std::uint32_t>(std::lround(cumulative / total * kOne));
      out[k] = upto - given;
      given = upto;
    }
    axis.first[static_cast<std::size_t>(d)] = first;
    axis.count[static_cast<std::size_t>(d)] = static_cast<int>(w.size());
  }
  return axis;
}

// Built for AVX2 as well as the baseline, picked at load time by an ifunc resolver:
// 32-bit multiplies vectorise poorly without it. Not under ThreadSanitizer, which is
// not yet initialised when the dynamic loader runs resolvers (the binary segfaults).
#if defined(__SANITIZE_THREAD__)
#define PIXELMILL_AVX2_CLONE
#else
#define PIXELMILL_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#endif

// One output row's column pass: the weighted sum of its source rows, over whole rows.
PIXELMILL_AVX2_CLONE void column_pass(const cv::Mat& src, const AxisTaps& ty, int dy,
                                                                   std::uint32_t* acc, std::uint16_t* mid,
                                                                   std::size_t row_len) {
  const auto yi = static_cast<std::size_t>(dy);
  const std::uint32_t* wy = &ty.weights[yi * static_cast<std::size_t>(ty.taps)];
  const std::uint8_t* row = src.ptr<std::uint8_t>(ty.first[yi]);
  for (std::size_t x = 0; x < row_len; ++x) acc[x] = (1u << (kColumnShift - 1)) + wy[0] * row[x];
  for (int k = 1; k < ty.count[yi]; ++k) {
    row = src.ptr<std::uint8_t>(ty.first[yi] + k);
    const std::uint32_t weight = wy[k];
    for (std::size_t x = 0; x < row_len; ++x) acc[x] += weight * row[x];
  }
  for (std::size_t x = 0; x < row_len; ++x) mid[x] = static_cast<std::uint16_t>(acc[x] >> kColumnShift);
}

// One output row's row pass: each output sample from `taps` neighbouring column sums.
template <int Cn>
void row_pass(const std::uint16_t* mid, const AxisTaps& tx, std::uint8_t* out, int width) {
  const auto taps = static_cast<std::size_t>(tx.taps);
  for (std::size_t dx = 0; dx < static_cast<std::size_t>(width); ++dx) {
    const std::uint32_t* wx = &tx.weights[dx * taps];
    const std::uint16_t* from = mid + static_cast<std::size_t>(tx.first[dx]) * Cn;
    std::uint32_t sum[Cn];
    for (int c = 0; c < Cn; ++c) sum[c] = 1u << (kRowShift - 1);
    for (std::size_t k = 0; k < taps; ++k, from += Cn) {
      for (int c = 0; c < Cn; ++c) sum[c] += wx[k] * from[c];
    }
    for (int c = 0; c < Cn; ++c) {
      out[dx * Cn + static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(std::min<std::uint32_t>(sum[c] >> kRowShift, 255));
    }
  }
}

// Output rows [begin, end) of `dst`.
template <int Cn>
void shrink_rows(const cv::Mat& src, cv::Mat& dst, const AxisTaps& tx, const AxisTaps& ty, int begin, int end) {
  const std::size_t row_len = static_cast<std::size_t>(src.cols) * Cn;
  std::vector<std::uint32_t> acc(row_len);
  // Padded by a cell of zeros: the row pass reads `taps` samples from every first one.
  std::vector<std::uint16_t> mid(row_len + static_cast<std::size_t>(tx.taps) * Cn, 0);
  for (int dy = begin; dy < end; ++dy) {
    column_pass(src, ty, dy, acc.data(), mid.data(), row_len);
    row_pass<Cn>(mid.data(), tx, dst.ptr<std::uint8_t>(dy), dst.cols);
  }
}

void shrink_rows(const cv::Mat& src, cv::Mat& dst, const AxisTaps& tx, const AxisTaps& ty, int begin, int end) {
  switch (src.channels()) {
    case 1: return shrink_rows<1>(src, dst, tx, ty, begin, end);
    case 2: return shrink_rows<2>(src, dst, tx, ty, begin, end);
    case 3: return shrink_rows<3>(src, dst, tx, ty, begin, end);
    default: return shrink_rows<4>(src, dst, tx, ty, begin, end);
  }
}

}  // namespace

std::optional<cv::Mat> area_shrink(const cv::Mat& image, cv::Size target) {
  if (image.empty() || image.depth() != CV_8U || image.channels() > 4) return std::nullopt;
  if (target.width <= 0 || target.height <= 0 || target.width > image.cols || target.height > image.rows) {
    return std::nullopt;
  }
  if (image.cols % target.width == 0 && image.rows % target.height == 0) return std::nullopt;
  const AxisTaps tx = area_taps(image.cols, target.width);
  const AxisTaps ty = area_taps(image.rows, target.height);
  cv::Mat out(target, image.type());
  // About one stripe per 64 K output samples, as cv::resize splits its own work.
  const double stripes = std::max(1.0, static_cast<double>(target.area()) / (1 << 16));
  cv::parallel_for_(cv::Range(0, target.height),
                    [&](const cv::Range& rows) { shrink_rows(image, out, tx, ty, rows.start, rows.end); }, stripes);
  return out;
}

}  // namespace pixelmill::imaging
