#pragma once
// Shared by the load tests: the real binary, a photo, latency percentiles, and the
// server's own numbers read from its /metrics.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "binary_service.hpp"
#include "http_client.hpp"
#include "metrics_text.hpp"

namespace pixelmill::test {

using Millis = std::chrono::duration<double, std::milli>;

inline std::string read_testdata(const std::string& name) {
  std::ifstream in(std::string(PIXELMILL_SOURCE_DIR) + "/../shared/testdata/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in, "missing testdata " << name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The q-quantile (0..1) of `samples`, nearest rank; 0 when empty.
inline double percentile(std::vector<double> samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
  return samples[std::min(rank, samples.size() - 1)];
}

// A free 127.0.0.1 port, as the kernel picks for port 0 (free again when returned;
// the tiny window before the server binds it is acceptable in a test).
inline std::uint16_t free_port() {
  boost::asio::io_context context;
  boost::asio::ip::tcp::acceptor acceptor(
      context, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// The real binary with logging at `error` only: under load, info-level access lines
// would fill the unread stdout pipe and block the server. So the port is chosen
// here, and readiness is /healthz answering.
inline BinaryService start_quiet_binary(std::vector<std::string> flags) {
  const std::uint16_t port = free_port();
  flags.insert(flags.end(), {"--listen", "127.0.0.1:" + std::to_string(port), "--log-level", "error"});
  flags.insert(flags.begin(), PIXELMILL_BINARY);
  BinaryService service{ChildProcess(std::move(flags)), port};
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    try {
      if (HttpClient(port).get("/healthz").result() == http::status::ok) return service;
    } catch (const std::exception&) {
      // not listening yet
    }
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < end,
                    "pixelmill did not answer /healthz; stderr: " << service.process.stderr_text());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline double server_metric(std::uint16_t port, std::string_view series) {
  HttpClient client(port);
  return value(client.get("/metrics").body(), series);
}

// Seconds from the environment (for a longer soak by hand), else `fallback`.
inline std::chrono::seconds seconds_from_env(const char* name, std::chrono::seconds fallback) {
  const char* text = std::getenv(name);
  return text ? std::chrono::seconds(std::atoi(text)) : fallback;
}

}  // namespace pixelmill::test
