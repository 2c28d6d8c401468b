#pragma once
// transform() has two pipelines for the same result: the general one on OpenCV BGR
// images, and for JPEG -> JPEG without padding a faster one on the JPEG's own Y'CbCr
// planes (jpeg_yuv.hpp). This lets tests run either on the same input and see which
// one ran, to hold the planar one to the BGR one's output. Private to imaging/.
#include "pixelmill/imaging/transform.hpp"

namespace pixelmill::imaging {

enum class Pipeline { bgr, yuv };

struct PipelineResult {
  Transformed transformed;
  Pipeline used = Pipeline::bgr;
  int decode_bands = 1;  // pieces the JPEG was decoded in (restart-marker bands, yuv only)
};

// transform(), with `preferred` = yuv taking the planar pipeline wherever it applies
// (what transform() does), and bgr forcing the BGR pipeline everywhere.
[[nodiscard]] PipelineResult transform_with(Pipeline preferred, std::span<const std::uint8_t> bytes,
                                            const TransformOptions& options, const SourceLimits& limits,
                                            const StageObserver& observe = {});

}  // namespace pixelmill::imaging
