#pragma once
// The seam between the I/O pool and the CPU pool:
//
//   auto job = [=] { return decode_resize_encode(...); };
//   Result r = co_await offloader.run(job);
//
// The calling coroutine suspends; the job runs where runtime.offload says (the CPU
// pool in production); the coroutine resumes on its own executor (the connection's
// strand) with the result, or with the job's exception rethrown. A full queue
// throws Overloaded at once; a job whose deadline passes, or whose awaiting
// coroutine is cancelled (client gone, shutdown), before a thread takes it is
// dropped unrun and the caller gets DeadlineExceeded or JobCancelled.

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "pixelmill/config/settings.hpp"
#include "pixelmill/runtime/cpu_pool.hpp"
#include "pixelmill/runtime/errors.hpp"
#include "pixelmill/runtime/io_pool.hpp"
#include "pixelmill/runtime/runtime_metrics.hpp"

namespace pixelmill::runtime {

namespace detail {

template <class R>
using ValueOf = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

template <class F>
auto invoke_for_value(F& fn) {
  if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
    fn();
    return std::monostate{};
  } else {
    return fn();
  }
}

// The completion signature the awaitable sees: no value for void jobs.
template <class R>
struct Completion {
  using signature = void(std::exception_ptr, R);
  template <class Handler>
  static void invoke(Handler&& handler, std::exception_ptr error, std::optional<R>&& value) {
    std::move(handler)(error, value ? std::move(*value) : R{});
  }
};
template <>
struct Completion<void> {
  using signature = void(std::exception_ptr);
  template <class Handler>
  static void invoke(Handler&& handler, std::exception_ptr error, std::optional<std::monostate>&&) {
    std::move(handler)(error);
  }
};

// Shared by the job (on a worker thread), the cancellation slot and the completion
// (on the caller's executor). `completed_` makes sure the handler runs exactly once.
template <class R, class Handler>
class OffloadState : public std::enable_shared_from_this<OffloadState<R, Handler>> {
 public:
  using Value = ValueOf<R>;

  explicit OffloadState(Handler handler)
      : work_(boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                  boost::asio::execution::outstanding_work.tracked)),
        handler_(std::move(handler)) {}

  std::shared_ptr<const std::atomic<bool>> cancelled_flag() const { return cancelled_; }

  void watch_cancellation() {
    auto slot = boost::asio::get_associated_cancellation_slot(*handler_);
    if (!slot.is_connected()) return;
    slot.assign([self = this->shared_from_this()](boost::asio::cancellation_type type) {
      if (type == boost::asio::cancellation_type::none) return;
      self->cancelled_->store(true);
      self->complete(std::make_exception_ptr(JobCancelled{}), std::nullopt);
    });
  }

  void complete(std::exception_ptr error, std::optional<Value> value) {
    if (completed_.exchange(true)) return;
    boost::asio::post(work_, [self = this->shared_from_this(), error = std::move(error),
                              value = std::move(value)]() mutable {
      auto handler = std::move(*self->handler_);
      self->handler_.reset();
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected()) slot.clear();  // drops the slot's reference to us
      Completion<R>::invoke(std::move(handler), std::move(error), std::move(value));
    });
  }

 private:
  using WorkExecutor = std::decay_t<decltype(boost::asio::prefer(
      std::declval<boost::asio::associated_executor_t<Handler>>(),
      boost::asio::execution::outstanding_work.tracked))>;
  WorkExecutor work_;
  std::optional<Handler> handler_;
  std::atomic<bool> completed_{false};
  std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace detail

class Offloader {
 public:
  using Clock = CpuPool::Clock;

  Offloader(CpuPool& cpu, IoPool& io, RuntimeMetrics& metrics, config::OffloadMode mode,
            std::chrono::milliseconds default_deadline)
      : cpu_(cpu), io_(io), metrics_(metrics), mode_(mode), default_deadline_(default_deadline) {}

  config::OffloadMode mode() const { return mode_; }
  CpuPool& cpu_pool() { return cpu_; }

  // The job is taken by lvalue reference and moved from. Why not by value: g++ 12
  // destroys a temporary with a non-trivial destructor twice when it appears in a
  // co_await expression (the GCC bug 100611 family), and `co_await run([=] {...})`
  // is exactly that: a capturing lambda's captures freed twice. Requiring a named
  // job turns the trap into a compile error:
  //   auto job = [=] { return work(); };
  //   auto result = co_await offloader.run(job);
  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F&>> run(F& job) {
    return run(job, Clock::now() + default_deadline_);
  }

  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F&>> run(F& job, Clock::time_point deadline) {
    using R = std::invoke_result_t<F&>;
    static_assert(std::is_void_v<R> || std::is_default_constructible_v<R>,
                  "an offloaded job's result must be default-constructible");
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                       typename detail::Completion<R>::signature>(
        [this, deadline](auto handler, F fn) {
          initiate<R>(std::move(handler), std::move(fn), deadline);
        },
        boost::asio::use_awaitable, std::move(job));
  }

 private:
  template <class Body>
  auto count_outcome(Body&& body) {
    try {
      auto value = body();
      metrics_.cpu_jobs(JobOutcome::done).Increment();
      return value;
    } catch (...) {
      metrics_.cpu_jobs(JobOutcome::failed).Increment();
      throw;
    }
  }

  template <class R, class Handler, class F>
  void initiate(Handler handler, F fn, Clock::time_point deadline) {
    auto state = std::make_shared<detail::OffloadState<R, Handler>>(std::move(handler));
    state->watch_cancellation();
    // std::function needs a copyable callable; the job itself may be move-only.
    auto shared_fn = std::make_shared<F>(std::move(fn));
    CpuPool::Job job;
    job.deadline = deadline;
    job.cancelled = state->cancelled_flag();
    job.fn = [this, state, shared_fn](JobFate fate) {
      switch (fate) {
        case JobFate::run: break;
        case JobFate::expired:
          return state->complete(std::make_exception_ptr(DeadlineExceeded{}), std::nullopt);
        case JobFate::cancelled:
        case JobFate::shutdown:
          return state->complete(std::make_exception_ptr(JobCancelled{}), std::nullopt);
      }
      std::exception_ptr error;
      std::optional<detail::ValueOf<R>> value;
      try {
        value = count_outcome([&] { return detail::invoke_for_value(*shared_fn); });
      } catch (...) {
        error = std::current_exception();
      }
      // Completed outside the handler and by move, so this thread holds no reference
      // to the exception once the caller may see it: the caller's thread frees it.
      state->complete(std::move(error), std::move(value));
    };
    if (mode_ == config::OffloadMode::inline_) {
      // The trap, on purpose: the job runs right here, on the awaiting I/O thread;
      // only its completion is posted.
      job.fn(JobFate::run);
    } else if (mode_ == config::OffloadMode::io_pool) {
      // The other trap: parallel, but every I/O thread that runs a job is frozen.
      boost::asio::post(io_.next_context(), [job = std::move(job)] { job.fn(JobFate::run); });
    } else if (!cpu_.try_submit(std::move(job))) {
      state->complete(std::make_exception_ptr(Overloaded{}), std::nullopt);
    }
  }

  CpuPool& cpu_;
  IoPool& io_;
  RuntimeMetrics& metrics_;
  config::OffloadMode mode_;
  std::chrono::milliseconds default_deadline_;
};

}  // namespace pixelmill::runtime
