#pragma once
// A few independent tasks (image bands, colour planes) on cv::parallel_for_, which the
// runtime routes to the CPU pool. Private to imaging/.
#include <opencv2/core/utility.hpp>

#include <cstddef>
#include <exception>
#include <vector>

namespace pixelmill::imaging {

// Runs task(i) for every i in [0, n), one stripe each, and returns when all are done.
// Each task's exception is caught where it is thrown and the lowest-indexed one is
// rethrown afterwards, with its type: OpenCV would report it as a cv::Exception
// carrying only the message. Loops nested inside a task run serially (OpenCV allows
// one parallel region at a time), so give each task a whole piece of work.
template <class Task>
void parallel_tasks(int n, const Task& task) {
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  cv::parallel_for_(cv::Range(0, n), [&](const cv::Range& range) {
    for (int i = range.start; i < range.end; ++i) {
      try {
        task(i);
      } catch (...) {
        errors[static_cast<std::size_t>(i)] = std::current_exception();
      }
    }
  }, n);
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace pixelmill::imaging
