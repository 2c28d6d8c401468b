#include "pixelmill/runtime/task_group.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>

namespace pixelmill::runtime {

TaskGroup::Handle TaskGroup::join(boost::asio::any_io_executor executor) {
  auto handle = std::make_shared<Member>(std::move(executor));
  std::lock_guard lock(mutex_);
  members_.push_back(handle);
  return handle;
}

void TaskGroup::leave(const Handle& handle) {
  std::lock_guard lock(mutex_);
  members_.remove(handle);
  if (members_.empty()) empty_.notify_all();
}

void TaskGroup::emit(boost::asio::cancellation_type type) {
  std::lock_guard lock(mutex_);
  for (const auto& member : members_) {
    // A signal may only be emitted where its coroutine runs.
    boost::asio::post(member->executor, [member, type] { member->signal.emit(type); });
  }
}

bool TaskGroup::wait_empty(std::chrono::steady_clock::duration timeout) {
  std::unique_lock lock(mutex_);
  return empty_.wait_for(lock, timeout, [this] { return members_.empty(); });
}

std::size_t TaskGroup::size() const {
  std::lock_guard lock(mutex_);
  return members_.size();
}

}  // namespace pixelmill::runtime
