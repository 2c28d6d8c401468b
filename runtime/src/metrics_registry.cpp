#include "pixelmill/runtime/metrics_registry.hpp"

#include <prometheus/text_serializer.h>

#include "pixelmill/runtime/process_metrics.hpp"

namespace pixelmill::runtime {

MetricsRegistry::MetricsRegistry() : registry_(std::make_shared<prometheus::Registry>()) {}
MetricsRegistry::~MetricsRegistry() = default;

std::string MetricsRegistry::serialize() const {
  auto families = registry_->Collect();
  auto process = ProcessMetrics{}.Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return prometheus::TextSerializer{}.Serialize(families);
}

}  // namespace pixelmill::runtime
