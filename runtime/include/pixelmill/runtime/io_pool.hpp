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
  explicit IoPool(unsigned threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(contexts_.size()); }
  boost::asio::io_context& context(unsigned index) { return *contexts_.at(index); }
  // Round-robin: where the next connection (or io_pool-mode job) goes.
  boost::asio::io_context& next_context();

  void start();  // spawns the threads; each runs its context until stop()
  void stop();   // stops every context and joins the threads

  // Index of the calling I/O thread, -1 on any other thread.
  static int current_thread_index();

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::optional<WorkGuard>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<unsigned> next_{0};
};

}  // namespace pixelmill::runtime
