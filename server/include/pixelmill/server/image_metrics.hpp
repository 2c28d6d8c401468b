#pragma once
// Image API series: stored originals, bytes in and out, source sizes.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "pixelmill/runtime/metrics_registry.hpp"

namespace pixelmill::server {

class ImageMetrics {
 public:
  explicit ImageMetrics(runtime::MetricsRegistry& registry);

  prometheus::Gauge& images_stored() { return images_stored_; }
  prometheus::Counter& bytes_in() { return bytes_in_; }
  prometheus::Counter& bytes_out() { return bytes_out_; }
  prometheus::Histogram& source_pixels() { return source_pixels_; }
  prometheus::Counter& cache_hits() { return cache_hits_; }
  prometheus::Counter& cache_misses() { return cache_misses_; }

 private:
  prometheus::Gauge& images_stored_;
  prometheus::Counter& bytes_in_;
  prometheus::Counter& bytes_out_;
  prometheus::Histogram& source_pixels_;
  prometheus::Counter& cache_hits_;
  prometheus::Counter& cache_misses_;
};

}  // namespace pixelmill::server
