#pragma once
// The benchmarks' client side: the photos, a closed-loop resize load over keep-alive
// connections, a health probe on a connection of its own, and percentiles. Any service
// with pixelmill's endpoint shape (POST /v1/resize, GET /healthz) can be driven.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "http_client.hpp"

namespace pixelmill::bench {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;
using Seconds = std::chrono::duration<double>;

// Every .jpg of `dir`, sorted by name, as bytes.
inline std::vector<std::string> load_photos(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".jpg") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> photos;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    photos.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (photos.empty()) throw std::runtime_error("no .jpg in " + dir.string());
  return photos;
}

// The value below which a fraction p of `values` lies (nearest rank); 0 when empty.
inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(p * static_cast<double>(values.size() - 1))];
}

struct Sample {
  double t_s, latency_ms;  // sent, seconds after the window's start; answered after
};

inline std::vector<double> latencies(const std::vector<Sample>& samples) {
  std::vector<double> ms;
  for (const auto& s : samples) ms.push_back(s.latency_ms);
  return ms;
}

// GET /healthz every period on one connection; a new request only once the previous
// one answered, so a blocked event loop shows as one long sample plus a gap.
// rt_priority > 0 runs the probe in SCHED_FIFO (root), so its own wake-ups do not
// wait behind the load clients and the numbers are the service's latency alone.
inline std::vector<Sample> probe_healthz(std::uint16_t port, Clock::time_point start, Clock::time_point end,
                                         std::chrono::milliseconds period, int rt_priority = 0) {
  pthread_setname_np(pthread_self(), "pt-probe");
  const sched_param param{.sched_priority = rt_priority};
  if (rt_priority > 0 && sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) != 0) {
    throw std::runtime_error(std::string("probe: SCHED_FIFO refused: ") + std::strerror(errno));
  }
  test::HttpClient client(port);
  std::vector<Sample> samples;
  for (auto next = start; next < end;) {
    std::this_thread::sleep_until(next);
    const auto sent = Clock::now();
    const auto res = client.get("/healthz");
    const auto answered = Clock::now();
    if (res.result() != test::http::status::ok) std::fprintf(stderr, "healthz: %u\n", res.result_int());
    samples.push_back({Seconds(sent - start).count(), Millis(answered - sent).count()});
    while (next <= answered) next += period;
  }
  return samples;
}

struct LoadResult {
  std::size_t done = 0, failed = 0;
  std::vector<double> latency_ms;  // of the answers that count
};

// `clients` keep-alive connections, each POSTing the photos round robin to `target`
// until `end`; only answers that arrive before `end` count.
class ResizeLoad {
 public:
  ResizeLoad(std::uint16_t port, const std::vector<std::string>& photos, unsigned clients,
             std::string target = "/v1/resize?w=800&format=jpeg&quality=80")
      : photos_(photos), target_(std::move(target)) {
    for (unsigned c = 0; c < clients; ++c) clients_.push_back(std::make_unique<test::HttpClient>(port));
  }

  // One request per client, all at once, before the window: decoders and allocators are warm.
  void warm_up() {
    each_client([this](std::size_t c) {
      resize(*clients_[c], c);
      return LoadResult{};
    });
  }

  LoadResult run(Clock::time_point end) {
    return each_client([this, end](std::size_t c) { return drive(c, end); });
  }

 private:
  // Runs fn(c) for every client on a thread of its own; merges the results.
  template <class Fn>
  LoadResult each_client(Fn fn) {
    std::vector<std::future<LoadResult>> workers;
    for (std::size_t c = 0; c < clients_.size(); ++c) workers.push_back(std::async(std::launch::async, fn, c));
    LoadResult total;
    for (auto& w : workers) {
      auto r = w.get();
      total.done += r.done, total.failed += r.failed;
      total.latency_ms.insert(total.latency_ms.end(), r.latency_ms.begin(), r.latency_ms.end());
    }
    return total;
  }

  bool resize(test::HttpClient& client, std::size_t i) {
    const auto res = client.request(test::http::verb::post, target_, photos_[i % photos_.size()],
                                    {{"Content-Type", "image/jpeg"}});
    return res.result() == test::http::status::ok;
  }

  LoadResult drive(std::size_t c, Clock::time_point end) {
    pthread_setname_np(pthread_self(), "pt-load");
    LoadResult r;
    for (std::size_t i = c; Clock::now() < end; i += clients_.size()) {
      const auto sent = Clock::now();
      const bool ok = resize(*clients_[c], i);
      const auto answered = Clock::now();
      if (answered > end) break;
      ++(ok ? r.done : r.failed);
      if (ok) r.latency_ms.push_back(Millis(answered - sent).count());
    }
    return r;
  }

  const std::vector<std::string>& photos_;
  std::string target_;
  std::vector<std::unique_ptr<test::HttpClient>> clients_;
};

}  // namespace pixelmill::bench
