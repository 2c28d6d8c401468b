#include "pixelmill/config/settings.hpp"

#include <algorithm>

namespace pixelmill::config {

Settings resolve_auto(Settings s, unsigned hardware_threads) {
  auto& rt = s.runtime;
  // A couple of event loops saturate a NIC long before they saturate a core; on
  // small machines one keeps a core free for image work.
  if (rt.io_threads == 0) rt.io_threads = hardware_threads <= 2 ? 1 : 2;
  // hardware_concurrency() may report 0 when unknown: never run without a CPU thread.
  if (rt.cpu_threads == 0) rt.cpu_threads = std::max(1u, hardware_threads);
  // A few queued jobs per thread keep cores busy between jobs without building a
  // backlog that would only turn into timeouts.
  if (rt.cpu_queue_length == 0) rt.cpu_queue_length = 4 * std::size_t{rt.cpu_threads};
  return s;
}

}  // namespace pixelmill::config
