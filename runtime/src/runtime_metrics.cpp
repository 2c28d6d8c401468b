#include "pixelmill/runtime/runtime_metrics.hpp"

#include <string>

namespace pixelmill::runtime {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

constexpr std::array<const char*, 4> outcome_names{"done", "rejected", "cancelled", "failed"};
constexpr std::array<const char*, 4> stage_names{"probe", "decode", "resize", "encode"};

}  // namespace

prometheus::Histogram::BucketBoundaries RuntimeMetrics::latency_buckets() {
  // 100 µs .. 10 s: a healthy I/O loop lives in the first buckets, a blocked one
  // (an inline decode) lands in the 0.1–1 s range.
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};
}

RuntimeMetrics::RuntimeMetrics(MetricsRegistry& metrics)
    : io_loop_lag_family_(BuildHistogram()
                              .Name("pixelmill_io_loop_lag_seconds")
                              .Help("How late each I/O thread's heartbeat timer fired.")
                              .Register(metrics.registry())),
      io_stalls_(BuildCounter()
                     .Name("pixelmill_io_stalls_total")
                     .Help("Heartbeats later than runtime.stall_threshold.")
                     .Register(metrics.registry())
                     .Add({})),
      cpu_queue_depth_(BuildGauge()
                           .Name("pixelmill_cpu_queue_depth")
                           .Help("Jobs waiting for a CPU thread.")
                           .Register(metrics.registry())
                           .Add({})),
      cpu_queue_wait_(BuildHistogram()
                          .Name("pixelmill_cpu_queue_wait_seconds")
                          .Help("Time jobs waited in the CPU queue before a thread took them.")
                          .Register(metrics.registry())
                          .Add({}, latency_buckets())),
      cpu_busy_threads_(BuildGauge()
                            .Name("pixelmill_cpu_busy_threads")
                            .Help("CPU threads currently running a job.")
                            .Register(metrics.registry())
                            .Add({})),
      pool_threads_(BuildGauge()
                        .Name("pixelmill_pool_threads")
                        .Help("Configured threads per pool.")
                        .Register(metrics.registry())),
      cpu_queue_capacity_(BuildGauge()
                              .Name("pixelmill_cpu_queue_capacity")
                              .Help("Jobs the CPU queue holds before it rejects (503).")
                              .Register(metrics.registry())
                              .Add({})) {
  auto& jobs = BuildCounter()
                   .Name("pixelmill_cpu_jobs_total")
                   .Help("Offloaded jobs by outcome: done, rejected (queue full), cancelled "
                         "(dropped before start: client gone or deadline passed), failed.")
                   .Register(metrics.registry());
  for (std::size_t i = 0; i < outcome_names.size(); ++i) {
    cpu_jobs_[i] = &jobs.Add({{"outcome", outcome_names[i]}});
  }
  auto& stages = BuildHistogram()
                     .Name("pixelmill_cpu_job_seconds")
                     .Help("CPU time per job stage.")
                     .Register(metrics.registry());
  for (std::size_t i = 0; i < stage_names.size(); ++i) {
    cpu_job_seconds_[i] = &stages.Add({{"stage", stage_names[i]}}, latency_buckets());
  }
}

prometheus::Histogram& RuntimeMetrics::io_loop_lag(unsigned io_thread) {
  return io_loop_lag_family_.Add({{"thread", "io-" + std::to_string(io_thread)}},
                                 latency_buckets());
}

void RuntimeMetrics::set_pool_sizes(unsigned io_threads, unsigned cpu_threads,
                                    std::size_t queue_capacity) {
  pool_threads_.Add({{"pool", "io"}}).Set(io_threads);
  pool_threads_.Add({{"pool", "cpu"}}).Set(cpu_threads);
  cpu_queue_capacity_.Set(static_cast<double>(queue_capacity));
}

}  // namespace pixelmill::runtime
