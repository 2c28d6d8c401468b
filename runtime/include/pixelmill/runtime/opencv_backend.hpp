#pragma once
// Routes OpenCV's parallel_for_ onto the CPU pool (cv::parallel::ParallelForAPI), so
// OpenCV never starts threads of its own (Debian's build would use TBB) and one big
// image's resize is split across the CPU pool's threads.

#include <memory>

namespace pixelmill::runtime {

class CpuPool;

// Installs the backend (once per process; OpenCV's setter is not thread-safe, so call
// it from main() before any OpenCV work) and points it at `pool`. While the guard
// lives, OpenCV's parallel work runs on the pool; when it is destroyed, OpenCV falls
// back to running parallel loops serially on the calling thread.
class OpenCvBackendGuard {
 public:
  explicit OpenCvBackendGuard(CpuPool& pool);
  ~OpenCvBackendGuard();
  OpenCvBackendGuard(const OpenCvBackendGuard&) = delete;
  OpenCvBackendGuard& operator=(const OpenCvBackendGuard&) = delete;
};

// The name OpenCV reports for the active backend ("pixelmill-cpu-pool").
const char* opencv_backend_name();

}  // namespace pixelmill::runtime
