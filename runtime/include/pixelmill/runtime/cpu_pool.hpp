#pragma once
// The CPU pool: a fixed set of dedicated threads, at a lower OS priority than the
// I/O threads, fed by a bounded queue. A full queue refuses at once (the caller
// answers 503) instead of building an unbounded backlog. Jobs whose deadline passed
// or whose requester cancelled before a thread took them are dropped, never run.
// The same threads serve parallel_for(), which splits one image's pixel work.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pixelmill/runtime/runtime_metrics.hpp"

namespace pixelmill::runtime {

// What the pool decided for a job when a thread took it from the queue.
enum class JobFate { run, expired, cancelled, shutdown };

struct CpuPoolOptions {
  unsigned threads = 1;
  std::size_t queue_length = 4;  // jobs waiting beyond the running ones
  int nice = 10;                 // added to the threads' niceness (Linux per-thread)
};

class CpuPool {
 public:
  using Clock = std::chrono::steady_clock;

  struct Job {
    // Called exactly once, on a pool thread, with the pool's decision.
    std::function<void(JobFate)> fn;
    Clock::time_point deadline = Clock::time_point::max();
    // Set by the requester when it no longer wants the result.
    std::shared_ptr<const std::atomic<bool>> cancelled;
    Clock::time_point enqueued{};
  };

  CpuPool(CpuPoolOptions options, RuntimeMetrics& metrics);
  ~CpuPool();
  CpuPool(const CpuPool&) = delete;
  CpuPool& operator=(const CpuPool&) = delete;

  // Queues the job, or returns false at once when threads and queue are all taken.
  bool try_submit(Job job);

  // Runs body(i, i + 1) for every i in [0, tasks) on this thread and the pool's idle
  // threads; returns when all are done. Safe from a pool thread: the caller works
  // through the tasks itself, helpers only speed it up, so it can never deadlock.
  // While its last tasks run elsewhere, the caller runs queued helper chunks (of
  // nested loops too) instead of sleeping.
  void parallel_for(int tasks, const std::function<void(int, int)>& body);

  // Runs one queued helper chunk of a parallel_for (any caller's) on this thread;
  // false if none was queued. A long task beside other loops calls it at its own
  // pauses to let those loops finish first.
  bool run_queued_helper();

  // Stops taking jobs; queued ones get JobFate::shutdown; joins the threads.
  void stop();

  unsigned size() const { return thread_count_; }
  std::size_t queue_capacity() const { return options_.queue_length; }
  std::size_t queue_depth() const;
  bool saturated() const;

  // Index of the calling pool thread, -1 on any other thread.
  static int current_thread_index();

 private:
  void worker(unsigned index);
  bool next_task(std::unique_lock<std::mutex>& lock, std::function<void()>& helper, Job& job);
  void run_job(Job& job);
  std::function<void()> pop_helper();  // mutex_ held; empty if none is queued

  CpuPoolOptions options_;
  unsigned thread_count_;
  RuntimeMetrics& metrics_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;          // workers: a job, a helper or stop
  std::condition_variable loop_waiters_;  // parallel_for callers: a helper or their loop done
  std::deque<Job> jobs_;
  std::deque<std::function<void()>> helpers_;  // parallel_for chunks, served first
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace pixelmill::runtime
