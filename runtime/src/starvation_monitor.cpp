#include "pixelmill/runtime/starvation_monitor.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "pixelmill/runtime/log.hpp"

namespace pixelmill::runtime {

using Clock = std::chrono::steady_clock;

struct StarvationMonitor::Beat : std::enable_shared_from_this<Beat> {
  Beat(boost::asio::io_context& context, unsigned thread, RuntimeMetrics& metrics,
       MonitorOptions options)
      : timer(context),
        thread(thread),
        lag(metrics.io_loop_lag(thread)),
        stalls(metrics.io_stalls()),
        options(options) {}

  void arm() {
    if (stopped) return;
    expected = Clock::now() + options.period;
    timer.expires_at(expected);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->fire();
    });
  }

  void fire() {
    const auto late = Clock::now() - expected;
    lag.Observe(std::chrono::duration<double>(late).count());
    if (late > options.stall_threshold) {
      stalls.Increment();
      using Ms = std::chrono::duration<double, std::milli>;
      log_event(spdlog::level::warn, "io thread stalled: heartbeat late",
                {{"thread", "io-" + std::to_string(thread)},
                 log_number("lag_ms", Ms(late).count()),
                 log_number("threshold_ms", Ms(options.stall_threshold).count())});
    }
    arm();  // from now, not from `expected`: one long stall is one late beat, not many
  }

  boost::asio::steady_timer timer;
  unsigned thread;
  prometheus::Histogram& lag;
  prometheus::Counter& stalls;
  MonitorOptions options;
  Clock::time_point expected{};
  bool stopped = false;  // touched only on the beat's own I/O thread
};

StarvationMonitor::StarvationMonitor(IoPool& io, RuntimeMetrics& metrics, MonitorOptions options) {
  for (unsigned i = 0; i < io.size(); ++i) {
    beats_.push_back(std::make_shared<Beat>(io.context(i), i, metrics, options));
  }
}

StarvationMonitor::~StarvationMonitor() = default;

void StarvationMonitor::start() {
  for (auto& beat : beats_) {
    boost::asio::post(beat->timer.get_executor(), [beat] { beat->arm(); });
  }
}

void StarvationMonitor::stop() {
  for (auto& beat : beats_) {
    boost::asio::post(beat->timer.get_executor(), [beat] {
      beat->stopped = true;
      beat->timer.cancel();
    });
  }
}

}  // namespace pixelmill::runtime
