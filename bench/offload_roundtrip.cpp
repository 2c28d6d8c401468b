// What the seam costs: the round trip of `co_await offloader.run(job)` for a job
// that does nothing, from a coroutine on an I/O thread, per offload mode. This is
// the fixed price every image request pays to keep the I/O threads free.
//   offload_roundtrip [iterations]     prints a Markdown table
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "pixelmill/runtime/offload.hpp"

namespace asio = boost::asio;
using namespace pixelmill;
using Clock = std::chrono::steady_clock;

namespace {

asio::awaitable<std::vector<double>> round_trips(runtime::Offloader& offloader, int iterations) {
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(iterations));
  auto job = [] { return 1; };
  for (int i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    auto copy = job;
    co_await offloader.run(copy);
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  co_return micros;
}

double percentile(std::vector<double>& values, double p) {
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<long>(index), values.end());
  return values[index];
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::stoi(argv[1]) : 20000;
  std::printf("| mode | round trips | p50 µs | p99 µs | max µs |\n|---|---|---|---|---|\n");
  for (auto [mode, name] : {std::pair{config::OffloadMode::inline_, "inline"},
                            std::pair{config::OffloadMode::io_pool, "io_pool"},
                            std::pair{config::OffloadMode::cpu_pool, "cpu_pool"}}) {
    runtime::MetricsRegistry registry;
    runtime::RuntimeMetrics metrics(registry);
    runtime::IoPool io(1);
    runtime::CpuPool cpu({.threads = 2, .queue_length = 8}, metrics);
    runtime::Offloader offloader(cpu, io, metrics, mode, std::chrono::seconds(10));
    io.start();
    auto micros =
        asio::co_spawn(io.context(0), round_trips(offloader, iterations), asio::use_future).get();
    const double max = *std::max_element(micros.begin(), micros.end());
    std::printf("| %s | %d | %.1f | %.1f | %.1f |\n", name, iterations, percentile(micros, 0.5),
                percentile(micros, 0.99), max);
    cpu.stop();
    io.stop();
  }
}
