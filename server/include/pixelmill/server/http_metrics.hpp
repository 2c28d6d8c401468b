#pragma once
// HTTP series: requests by route pattern, method and status; latency by route;
// open and total connections; connections refused at the limit.

#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "pixelmill/runtime/metrics_registry.hpp"

namespace pixelmill::server {

class HttpMetrics {
 public:
  explicit HttpMetrics(runtime::MetricsRegistry& registry);

  void record_request(std::string_view route, std::string_view method, unsigned status,
                      double seconds);
  prometheus::Gauge& connections_open() { return connections_open_; }
  prometheus::Counter& connections_total() { return connections_total_; }
  prometheus::Counter& connections_refused() { return connections_refused_; }

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Gauge& connections_open_;
  prometheus::Counter& connections_total_;
  prometheus::Counter& connections_refused_;
};

}  // namespace pixelmill::server
