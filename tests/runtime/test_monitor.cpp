// The starvation monitor sees a blocked I/O thread, and does not see one that
// offloads the same work to the CPU pool.
#include <doctest/doctest.h>

#include <thread>

#include "pixelmill/runtime/starvation_monitor.hpp"
#include "runtime_fixture.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

asio::awaitable<void> block_300ms(runtime::Offloader& offloader) {
  auto job = [] { std::this_thread::sleep_for(300ms); };
  co_await offloader.run(job);
}

// Runs one 300 ms job in `mode` under a 10 ms heartbeat; returns /metrics text.
std::string exposition_after_blocking_job(config::OffloadMode mode) {
  test::RuntimeFixture f(mode);
  // Generous threshold: a loaded CI machine (or a sanitizer) can delay a healthy
  // beat by tens of ms, never by 150 ms without a real block.
  runtime::StarvationMonitor monitor(f.io, f.metrics, {.period = 10ms, .stall_threshold = 150ms});
  monitor.start();
  f.io.start();
  std::this_thread::sleep_for(100ms);
  f.run(block_300ms(f.offloader));
  std::this_thread::sleep_for(100ms);  // beats after the job
  monitor.stop();
  return f.registry.serialize();
}

}  // namespace

TEST_CASE("inline: a 300 ms job on the I/O thread is a stall and a late heartbeat") {
  const auto text = exposition_after_blocking_job(config::OffloadMode::inline_);
  CHECK(test::value(text, "pixelmill_io_stalls_total") >= 1);
  const double count = test::value(text, R"(pixelmill_io_loop_lag_seconds_count{thread="io-0"})");
  const double under_quarter = test::value(text, R"(pixelmill_io_loop_lag_seconds_bucket{thread="io-0",le="0.25"})");
  CHECK(count > 5);
  CHECK(under_quarter < count);  // at least one beat was over 250 ms late
}

TEST_CASE("cpu_pool: the same job leaves the I/O thread's heartbeat on time") {
  const auto text = exposition_after_blocking_job(config::OffloadMode::cpu_pool);
  CHECK(test::value(text, "pixelmill_io_stalls_total") == 0);
  const double count = test::value(text, R"(pixelmill_io_loop_lag_seconds_count{thread="io-0"})");
  const double under_tenth = test::value(text, R"(pixelmill_io_loop_lag_seconds_bucket{thread="io-0",le="0.1"})");
  CHECK(count > 20);
  CHECK(under_tenth == count);
}
