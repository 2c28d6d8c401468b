#include "pixelmill/runtime/io_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <exception>
#include <string>

#include "pixelmill/runtime/log.hpp"

namespace pixelmill::runtime {
namespace {
thread_local int current_index = -1;
}

IoPool::IoPool(unsigned threads) {
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
  for (unsigned i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] {
      current_index = static_cast<int>(i);
      const std::string name = "pm-io-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
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
