// libFuzzer target: see entry_points.hpp (probe_one) and tests/fuzz/run.
#include "entry_points.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pixelmill::fuzz::probe_one({data, size});
  return 0;
}
