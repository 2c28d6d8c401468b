#pragma once
// transform() has two pipelines for the same result: the general one on OpenCV BGR
// images, and for JPEG -> JPEG without padding a faster one on the JPEG's own Y'CbCr
// planes (jpeg_yuv.hpp). This lets tests run either on the same input and see which
// one ran, to hold the planar one to the BGR one's output. Private to imaging/.
#include "pixelmill/imaging/transform.hpp"

namespace pixelmill::imaging {

enum class Pipeline { bgr, yuv };

// Which decoder took the JPEG in the planar pipeline, and in how many pieces.
enum class JpegDecoder {
  libjpeg,        // TurboJPEG, the whole file on the calling thread
  restart_bands,  // TurboJPEG per restart-marker band (jpeg_restart.hpp)
  split,          // the split Huffman decoder (jpeg_split_decode.hpp)
};
struct JpegDecodeRoute {
  JpegDecoder decoder = JpegDecoder::libjpeg;
  int pieces = 1;  // bands or segments
};

struct PipelineResult {
  Transformed transformed;
  Pipeline used = Pipeline::bgr;
  JpegDecodeRoute decode;  // yuv only
};

// transform(), with `preferred` = yuv taking the planar pipeline wherever it applies
// (what transform() does), and bgr forcing the BGR pipeline everywhere.
[[nodiscard]] PipelineResult transform_with(Pipeline preferred, std::span<const std::uint8_t> bytes,
                                            const TransformOptions& options, const SourceLimits& limits,
                                            const StageObserver& observe = {});

}  // namespace pixelmill::imaging
