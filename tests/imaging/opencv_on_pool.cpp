// The imaging tests run OpenCV's parallel loops on pixelmill's CPU pool, exactly as
// the service does (runtime/opencv_backend.hpp), instead of Debian's default TBB
// backend: production behaviour, and threads TSan can see into.
#include "pixelmill/runtime/cpu_pool.hpp"
#include "pixelmill/runtime/opencv_backend.hpp"

namespace {

struct OpenCvOnPool {
  pixelmill::runtime::MetricsRegistry registry;
  pixelmill::runtime::RuntimeMetrics metrics{registry};
  pixelmill::runtime::CpuPool pool{{.threads = 2, .queue_length = 1}, metrics};
  pixelmill::runtime::OpenCvBackendGuard backend{pool};
};

// Before main(): OpenCV's backend must be set before any OpenCV call.
const OpenCvOnPool installed;

}  // namespace
