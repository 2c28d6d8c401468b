#pragma once
// A runtime as the service builds it, without the HTTP layer: metrics, one I/O
// thread, a CPU pool and an offloader in the chosen mode.

#include <chrono>
#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "metrics_text.hpp"
#include "pixelmill/runtime/offload.hpp"

namespace pixelmill::test {

struct RuntimeFixture {
  explicit RuntimeFixture(config::OffloadMode mode = config::OffloadMode::cpu_pool,
                          runtime::CpuPoolOptions cpu_options = {.threads = 2, .queue_length = 4})
      : cpu(cpu_options, metrics), offloader(cpu, io, metrics, mode, std::chrono::seconds(10)) {}
  ~RuntimeFixture() {
    cpu.stop();
    io.stop();
  }

  // Runs a coroutine on I/O thread 0 and blocks the test until it finishes.
  template <class T>
  T run(boost::asio::awaitable<T> coroutine) {
    return boost::asio::co_spawn(io.context(0), std::move(coroutine), boost::asio::use_future).get();
  }

  double value(const char* series) { return test::value(registry.serialize(), series); }

  runtime::MetricsRegistry registry;
  runtime::RuntimeMetrics metrics{registry};
  runtime::IoPool io{1};
  runtime::CpuPool cpu;
  runtime::Offloader offloader;
};

}  // namespace pixelmill::test
