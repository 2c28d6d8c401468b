#include "pixelmill/runtime/io_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <latch>
#include <memory>
#include <string>

#include "pixelmill/runtime/log.hpp"

namespace pixelmill::runtime {
namespace {
thread_local int current_index = -1;

// The calling thread into SCHED_RR. SCHED_RESET_ON_FORK: a thread it might start
// (a library's helper) begins at normal priority instead of inheriting the class.
bool make_realtime(int priority, const std::string& thread_name) {
  const sched_param param{.sched_priority = priority};
  if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &param) == 0) return true;
  log_event(spdlog::level::warn, "io thread: real-time priority refused, running at normal priority",
            {{"thread", thread_name},
             {"priority", std::to_string(priority)},
             {"error", std::strerror(errno)},
             {"hint", "needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least the priority "
                      "(ulimit -r; docker run --ulimit rtprio=N), and a host that allows "
                      "real-time tasks in the service's cgroup"}});
  return false;
}
}  // namespace

IoPool::IoPool(unsigned threads, int rt_priority) : rt_priority_(rt_priority) {
  const unsigned count = std::max(1u, threads);
  for (unsigned i = 0; i < count; ++i) {
    // Concurrency hint 1: each context is run by exactly one thread, so Asio can
    // skip internal locking.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

IoPool::~IoPool() { stop(); }

int IoPool::current_thread_index() { return current_index; }

boost::asio::io_context& IoPool::next_context() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void IoPool::start() {
  // Returns once every thread is named and has its priority (or logged the refusal),
  // so what the service logs next, and what a caller checks, is settled. Shared: a
  // thread may still be inside count_down() when start() has already returned.
  const auto ready = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(contexts_.size()));
  for (unsigned i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i, ready] {
      current_index = static_cast<int>(i);
      const std::string name = "pm-io-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      if (rt_priority_ > 0 && make_realtime(rt_priority_, name)) ++realtime_threads_;
      ready->count_down();
      for (;;) {
        try {
          contexts_[i]->run();
          return;
        } catch (const std::exception& e) {
          // Handlers report their own errors; this is the last line of defence.
          log_event(spdlog::level::err, "io thread: unhandled exception",
                    {{"thread", name}, {"error", e.what()}});
        }
      }
    });
  }
  ready->wait();
}

void IoPool::stop() {
  for (auto& guard : guards_) guard.reset();
  for (auto& context : contexts_) context->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace pixelmill::runtime
