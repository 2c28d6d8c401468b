#pragma once
// A heartbeat timer on every I/O thread. Each beat records how late it fired: a
// thread that is busy computing cannot run its timer, so the lateness *is* the time
// every connection on that thread was frozen. Late beats over the stall threshold
// count as stalls and are logged with the thread and the lag.

#include <chrono>
#include <memory>
#include <vector>

#include "pixelmill/runtime/io_pool.hpp"
#include "pixelmill/runtime/runtime_metrics.hpp"

namespace pixelmill::runtime {

struct MonitorOptions {
  std::chrono::milliseconds period{10};
  std::chrono::milliseconds stall_threshold{50};
};

class StarvationMonitor {
 public:
  StarvationMonitor(IoPool& io, RuntimeMetrics& metrics, MonitorOptions options);
  ~StarvationMonitor();

  void start();  // arms one heartbeat per I/O thread
  void stop();   // cancels them (safe to call from any thread)

 private:
  struct Beat;
  std::vector<std::shared_ptr<Beat>> beats_;
};

}  // namespace pixelmill::runtime
