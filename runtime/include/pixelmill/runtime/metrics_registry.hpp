#pragma once
// The one Prometheus registry of the process, created in main() and handed down by
// reference (no global). Every layer registers its families here; /metrics
// serializes it together with the standard process_* metrics.

#include <memory>
#include <string>

#include <prometheus/registry.h>

namespace pixelmill::runtime {

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();

  prometheus::Registry& registry() { return *registry_; }

  // Prometheus text exposition format 0.0.4.
  std::string serialize() const;
  static constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

 private:
  std::shared_ptr<prometheus::Registry> registry_;
};

}  // namespace pixelmill::runtime
