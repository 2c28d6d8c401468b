// libFuzzer target: see entry_points.hpp (multipart_one) and tests/fuzz/run.
#include "entry_points.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pixelmill::fuzz::multipart_one({data, size});
  return 0;
}
