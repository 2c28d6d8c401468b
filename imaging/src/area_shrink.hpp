#pragma once
// OpenCV's INTER_AREA shrink of an 8-bit image at a non-integer ratio, computed
// separably in fixed point. Private to imaging/.
//
// Why: for a ratio that is not a whole number cv::resize's INTER_AREA runs scalar
// float code, one multiply-add per (source pixel, output pixel) pair it overlaps:
// 6.2 ms on one thread for the 1500x1000 luma plane of the 24 MP benchmark image at
// 1/4, about a seventh of that request. The same box weights applied first down the
// columns (vectorised over a whole row) and then along the rows take a fraction of it.
// The result is INTER_AREA's to within one level (its weights are floats, these are
// 1/16384ths), which the tests check against cv::resize.
#include <opencv2/core.hpp>

#include <optional>

namespace pixelmill::imaging {

// `image` (CV_8U, 1 to 4 channels) shrunk to `target` by area averaging, as
// cv::resize(..., INTER_AREA) does; std::nullopt when cv::resize is the better tool:
// another depth or channel count, an axis that grows, or whole-number ratios on both
// axes (its fast SIMD path). Rows are split across cv::parallel_for_.
std::optional<cv::Mat> area_shrink(const cv::Mat& image, cv::Size target);

}  // namespace pixelmill::imaging
