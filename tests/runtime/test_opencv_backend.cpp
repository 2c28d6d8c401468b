// OpenCV's parallel_for_ runs on the CPU pool's threads, and OpenCV starts none.
#include <doctest/doctest.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include "pixelmill/runtime/opencv_backend.hpp"
#include "runtime_fixture.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

std::size_t process_threads() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    ++count;
  }
  return count;
}

asio::awaitable<std::set<int>> parallel_stripes(runtime::Offloader& offloader) {
  auto job = [] {
    std::mutex mutex;
    std::set<int> threads;
    cv::parallel_for_(cv::Range(0, 64), [&](const cv::Range& range) {
      std::this_thread::sleep_for(2ms);  // long enough that both threads take stripes
      std::lock_guard lock(mutex);
      for (int i = range.start; i < range.end; ++i) {
        threads.insert(runtime::CpuPool::current_thread_index());
      }
    }, 64);
    // A real workload too: a large resize goes through OpenCV's parallel loops.
    cv::Mat big(2000, 3000, CV_8UC3, cv::Scalar(10, 20, 30)), small;
    cv::resize(big, small, cv::Size(300, 200), 0, 0, cv::INTER_AREA);
    threads.insert(small.cols == 300 ? -100 : -200);
    return threads;
  };
  co_return co_await offloader.run(job);
}

}  // namespace

TEST_CASE("cv::parallel_for_ bodies run on CPU-pool threads only") {
  // Three threads, not the core count, so OpenCV's answer can only come from us.
  test::RuntimeFixture f(config::OffloadMode::cpu_pool, {.threads = 3, .queue_length = 1});
  runtime::OpenCvBackendGuard backend(f.cpu);
  f.io.start();
  CHECK(cv::getNumThreads() == 3);
  const std::size_t threads_before = process_threads();
  auto threads = f.run(parallel_stripes(f.offloader));
  CHECK(threads.erase(-100) == 1);  // the resize ran and produced 300 px
  CHECK(threads.size() >= 2);  // split across pool threads...
  for (int index : threads) CHECK((index >= 0 && index < 3));  // ...and nothing else
  CHECK(process_threads() == threads_before);  // OpenCV started no threads of its own
}
