// libFuzzer target: see entry_points.hpp (split_one) and tests/fuzz/run.
#include <opencv2/core/utility.hpp>

#include "entry_points.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cv::setNumThreads(0);  // as fuzz_decode: the segments decode on the calling thread
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pixelmill::fuzz::split_one({data, size});
  return 0;
}
