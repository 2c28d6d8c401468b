#pragma once
// A gate over running coroutines (Seastar's gate, Beast's task_group): each task
// joins with its own cancellation signal and leaves when it completes. Shutdown
// emits a cancellation type to every member (on the member's own executor, where
// its coroutine runs) and waits, bounded, for the group to empty.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>

namespace pixelmill::runtime {

class TaskGroup {
 public:
  struct Member {
    explicit Member(boost::asio::any_io_executor ex) : executor(std::move(ex)) {}
    boost::asio::cancellation_signal signal;
    boost::asio::any_io_executor executor;
  };
  using Handle = std::shared_ptr<Member>;

  // Bind handle->signal.slot() to the task's co_spawn; call leave() from its
  // completion handler.
  Handle join(boost::asio::any_io_executor executor);
  void leave(const Handle& handle);

  void emit(boost::asio::cancellation_type type);
  // Blocks the calling (non-I/O) thread until the group is empty or timeout passes.
  bool wait_empty(std::chrono::steady_clock::duration timeout);
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable empty_;
  std::list<Handle> members_;
};

}  // namespace pixelmill::runtime
