#pragma once
// process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds,
// process_start_time_seconds (and a few companions), read from /proc at scrape
// time with the names and meanings the official Prometheus clients use.

#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace pixelmill::runtime {

class ProcessMetrics : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace pixelmill::runtime
