#include "pixelmill/runtime/cpu_pool.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <string>

#include "pixelmill/runtime/log.hpp"

namespace pixelmill::runtime {
namespace {

thread_local int current_index = -1;

// Linux applies setpriority(PRIO_PROCESS, tid) to a single thread. We raise the
// niceness (lower priority) rather than use SCHED_BATCH/SCHED_IDLE: nice keeps CPU
// threads fully usable when cores are free, needs no privilege, and when cores are
// saturated CFS gives the I/O threads (nice 0) ~10x the weight, so they get in first.
void lower_priority(int nice_increment) {
  if (nice_increment <= 0) return;
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  const int current = getpriority(PRIO_PROCESS, tid);
  if (setpriority(PRIO_PROCESS, tid, std::min(19, current + nice_increment)) != 0) {
    log_event(spdlog::level::warn, "cpu pool: could not lower thread priority",
              {log_number("errno", errno)});
  }
}

}  // namespace

CpuPool::CpuPool(CpuPoolOptions options, RuntimeMetrics& metrics)
    : options_(options), thread_count_(std::max(1u, options.threads)), metrics_(metrics) {
  threads_.reserve(thread_count_);
  for (unsigned i = 0; i < thread_count_; ++i) {
    threads_.emplace_back([this, i] { worker(i); });
  }
}

CpuPool::~CpuPool() { stop(); }

int CpuPool::current_thread_index() { return current_index; }

std::size_t CpuPool::queue_depth() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

bool CpuPool::saturated() const {
  std::lock_guard lock(mutex_);
  return jobs_.size() >= options_.queue_length;
}

bool CpuPool::try_submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    // Idle threads take jobs straight from the queue, so "running + queued" is the
    // load: M threads plus queue_length waiting, the next one is refused.
    if (stopping_ || running_ + jobs_.size() >= thread_count_ + options_.queue_length) {
      metrics_.cpu_jobs(JobOutcome::rejected).Increment();
      return false;
    }
    job.enqueued = Clock::now();
    jobs_.push_back(std::move(job));
    metrics_.cpu_queue_depth().Set(static_cast<double>(jobs_.size()));
  }
  wake_.notify_one();
  return true;
}

bool CpuPool::next_task(std::unique_lock<std::mutex>& lock, std::function<void()>& helper,
                        Job& job) {
  wake_.wait(lock, [this] { return stopping_ || !helpers_.empty() || !jobs_.empty(); });
  if ((helper = pop_helper())) return true;
  if (jobs_.empty()) return false;  // stopping and drained
  job = std::move(jobs_.front());
  jobs_.pop_front();
  ++running_;
  metrics_.cpu_queue_depth().Set(static_cast<double>(jobs_.size()));
  return true;
}

void CpuPool::worker(unsigned index) {
  current_index = static_cast<int>(index);
  lower_priority(options_.nice);
  const std::string name = "pm-cpu-" + std::to_string(index);
  pthread_setname_np(pthread_self(), name.c_str());

  std::unique_lock lock(mutex_);
  for (;;) {
    std::function<void()> helper;
    Job job;
    if (!next_task(lock, helper, job)) return;
    lock.unlock();
    if (helper) {
      helper();
    } else {
      run_job(job);
    }
    lock.lock();
    if (!helper) --running_;
  }
}

void CpuPool::run_job(Job& job) {
  const auto now = Clock::now();
  metrics_.cpu_queue_wait().Observe(std::chrono::duration<double>(now - job.enqueued).count());
  JobFate fate = JobFate::run;
  bool stopping = false;
  {
    std::lock_guard lock(mutex_);
    stopping = stopping_;
  }
  if (stopping) {
    fate = JobFate::shutdown;
  } else if (job.cancelled && job.cancelled->load()) {
    fate = JobFate::cancelled;
  } else if (now > job.deadline) {
    fate = JobFate::expired;
  }
  if (fate != JobFate::run) {
    metrics_.cpu_jobs(JobOutcome::cancelled).Increment();
    job.fn(fate);
    return;
  }
  metrics_.cpu_busy_threads().Increment();
  job.fn(fate);  // the offload wrapper catches and reports the job's own exceptions
  metrics_.cpu_busy_threads().Decrement();
}

void CpuPool::parallel_for(int tasks, const std::function<void(int, int)>& body) {
  if (tasks <= 0) return;
  if (tasks == 1 || thread_count_ == 1) {
    body(0, tasks);
    return;
  }
  // `done` and `error` are guarded by the pool's mutex_, so the waiting caller can
  // sleep on loop_waiters_ and be woken both by its own last task and by new helpers.
  struct Shared {
    std::atomic<int> next{0};
    int total = 0;
    int done = 0;
    std::exception_ptr error;
  };
  auto shared = std::make_shared<Shared>();
  shared->total = tasks;
  // Late helpers find next >= total and return without touching body, so body (the
  // caller's stack object) is only used while the caller is still waiting.
  auto work = [this, shared, &body] {
    for (int i; (i = shared->next.fetch_add(1)) < shared->total;) {
      std::exception_ptr error;
      try {
        body(i, i + 1);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard lock(mutex_);
      if (error && !shared->error) shared->error = error;
      if (++shared->done == shared->total) loop_waiters_.notify_all();
    }
  };
  const int helpers = std::min<int>(tasks - 1, static_cast<int>(thread_count_) - 1);
  {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < helpers; ++i) helpers_.emplace_back(work);
  }
  wake_.notify_all();
  loop_waiters_.notify_all();
  work();
  // The tasks left are running on other threads. Rather than sleep, serve queued
  // helper chunks (of nested or other loops): a task running elsewhere may itself be
  // waiting for one of them, and this thread would otherwise idle.
  std::unique_lock lock(mutex_);
  while (shared->done != shared->total) {
    auto helper = pop_helper();
    if (!helper) {
      loop_waiters_.wait(lock);
      continue;
    }
    lock.unlock();
    helper();
    lock.lock();
  }
  if (shared->error) std::rethrow_exception(shared->error);
}

bool CpuPool::run_queued_helper() {
  std::function<void()> helper;
  {
    std::lock_guard lock(mutex_);
    helper = pop_helper();
  }
  if (!helper) return false;
  helper();
  return true;
}

std::function<void()> CpuPool::pop_helper() {
  if (helpers_.empty()) return {};
  std::function<void()> helper = std::move(helpers_.front());
  helpers_.pop_front();
  return helper;
}

void CpuPool::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace pixelmill::runtime
