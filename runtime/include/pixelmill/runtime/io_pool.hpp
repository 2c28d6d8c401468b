#pragma once
// The I/O pool: N threads, each running its own io_context. One context per thread
// (rather than N threads on one context) gives every thread its own heartbeat, so
// a blocked thread shows up in its own lag series, and keeps a connection's
// handlers on one thread. New connections are spread round-robin.

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace pixelmill::runtime {

class IoPool {
 public:
  // rt_priority > 0 asks for SCHED_RR at that priority on every I/O thread, so a
  // wake-up (a request, a heartbeat) preempts the CPU threads and other processes
  // at once instead of waiting in the run queue. Needs CAP_SYS_NICE or RLIMIT_RTPRIO;
  // refused, the thread logs a warning and runs at normal priority.
  explicit IoPool(unsigned threads, int rt_priority = 0);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(contexts_.size()); }
  boost::asio::io_context& context(unsigned index) { return *contexts_.at(index); }
  // Round-robin: where the next connection (or io_pool-mode job) goes.
  boost::asio::io_context& next_context();

  // Spawns the threads, each running its context until stop(); returns once all of
  // them are named and have their scheduling priority.
  void start();
  void stop();   // stops every context and joins the threads

  // I/O threads running in SCHED_RR (0 unless rt_priority > 0 was granted).
  unsigned realtime_threads() const { return realtime_threads_.load(); }

  // Index of the calling I/O thread, -1 on any other thread.
  static int current_thread_index();

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::optional<WorkGuard>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<unsigned> next_{0};
  int rt_priority_;
  std::atomic<unsigned> realtime_threads_{0};
};

}  // namespace pixelmill::runtime
