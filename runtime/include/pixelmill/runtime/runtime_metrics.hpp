#pragma once
// The runtime's Prometheus series (names are a contract, see DESIGN.md): I/O loop
// lag and stalls, CPU queue depth and wait, per-stage job time, busy threads, job
// outcomes and pool sizes.

#include <array>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "pixelmill/runtime/metrics_registry.hpp"

namespace pixelmill::runtime {

enum class JobOutcome { done, rejected, cancelled, failed };
enum class JobStage { probe, decode, resize, encode };

class RuntimeMetrics {
 public:
  explicit RuntimeMetrics(MetricsRegistry& registry);

  // One lag histogram per I/O thread, labelled thread="io-N".
  prometheus::Histogram& io_loop_lag(unsigned io_thread);
  prometheus::Counter& io_stalls() { return io_stalls_; }

  prometheus::Gauge& cpu_queue_depth() { return cpu_queue_depth_; }
  prometheus::Histogram& cpu_queue_wait() { return cpu_queue_wait_; }
  prometheus::Gauge& cpu_busy_threads() { return cpu_busy_threads_; }
  prometheus::Counter& cpu_jobs(JobOutcome outcome) {
    return *cpu_jobs_[static_cast<std::size_t>(outcome)];
  }
  prometheus::Histogram& cpu_job_seconds(JobStage stage) {
    return *cpu_job_seconds_[static_cast<std::size_t>(stage)];
  }
  void set_pool_sizes(unsigned io_threads, unsigned cpu_threads, std::size_t queue_capacity);

  // Histogram buckets in seconds, shared by the latency-like series.
  static prometheus::Histogram::BucketBoundaries latency_buckets();

 private:
  prometheus::Family<prometheus::Histogram>& io_loop_lag_family_;
  prometheus::Counter& io_stalls_;
  prometheus::Gauge& cpu_queue_depth_;
  prometheus::Histogram& cpu_queue_wait_;
  prometheus::Gauge& cpu_busy_threads_;
  std::array<prometheus::Counter*, 4> cpu_jobs_{};
  std::array<prometheus::Histogram*, 4> cpu_job_seconds_{};
  prometheus::Family<prometheus::Gauge>& pool_threads_;
  prometheus::Gauge& cpu_queue_capacity_;
};

}  // namespace pixelmill::runtime
