// libFuzzer target: see entry_points.hpp (decode_one) and tests/fuzz/run.
#include <opencv2/core/utility.hpp>

#include "entry_points.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // OpenCV's own thread pool would only add nondeterminism here: run its parallel_for_
  // loops on the calling thread, as the service runs them on its CPU pool.
  cv::setNumThreads(0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pixelmill::fuzz::decode_one({data, size});
  return 0;
}
