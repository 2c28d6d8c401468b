#include "pixelmill/runtime/opencv_backend.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>

#include <opencv2/core.hpp>
#include <opencv2/core/parallel/parallel_backend.hpp>

#include "pixelmill/runtime/cpu_pool.hpp"

namespace pixelmill::runtime {
namespace {

constexpr const char* backend_name = "pixelmill-cpu-pool";

class PoolBackend final : public cv::parallel::ParallelForAPI {
 public:
  void attach(CpuPool* pool) { pool_.store(pool); }

  void parallel_for(int tasks, FN_parallel_for_body_cb_t body, void* data) override {
    CpuPool* pool = pool_.load();
    if (pool == nullptr) {
      body(0, tasks, data);
      return;
    }
    pool->parallel_for(tasks, [body, data](int begin, int end) { body(begin, end, data); });
  }
  int getThreadNum() const override { return std::max(0, CpuPool::current_thread_index()); }
  int getNumThreads() const override {
    CpuPool* pool = pool_.load();
    return pool ? static_cast<int>(pool->size()) : 1;
  }
  // The pool's size is fixed by configuration; OpenCV may not change it.
  int setNumThreads(int) override { return getNumThreads(); }
  const char* getName() const override { return backend_name; }

 private:
  std::atomic<CpuPool*> pool_{nullptr};
};

// OpenCV keeps the backend in a process-wide slot, so there is one instance; the
// guard only swaps which pool it points at.
std::shared_ptr<PoolBackend>& installed_backend() {
  static std::shared_ptr<PoolBackend> backend;
  return backend;
}

}  // namespace

OpenCvBackendGuard::OpenCvBackendGuard(CpuPool& pool) {
  auto& backend = installed_backend();
  if (!backend) {
    backend = std::make_shared<PoolBackend>();
    std::shared_ptr<cv::parallel::ParallelForAPI> api = backend;
    cv::parallel::setParallelForBackend(api, /*propagateNumThreads=*/false);
  }
  backend->attach(&pool);
}

OpenCvBackendGuard::~OpenCvBackendGuard() { installed_backend()->attach(nullptr); }

const char* opencv_backend_name() { return backend_name; }

}  // namespace pixelmill::runtime
