// Issue 3's benchmark: POST /v1/resize?w=800&format=jpeg&quality=80 over the JPEGs in
// ../shared/testdata/photos through the real server (in-process, 127.0.0.1, keep-alive
// clients, 2 requests in flight per core) versus an in-process loop doing the same
// imaging::transform calls on the same CPU pool; then one large image alone with 1
// CPU thread versus all cores. Prints Markdown, with each throughput phase's peak RSS.
//   resize_throughput [seconds per phase]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "http_client.hpp"
#include "pixelmill/imaging/transform.hpp"
#include "pixelmill/runtime/allocator.hpp"
#include "pixelmill/runtime/cpu_pool.hpp"
#include "pixelmill/runtime/opencv_backend.hpp"
#include "pixelmill/server/service.hpp"

using namespace pixelmill;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> load_photos() {
  std::vector<std::string> photos;
  const std::filesystem::path dir = std::string(PIXELMILL_SOURCE_DIR) + "/../shared/testdata/photos";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".jpg") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    photos.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::sort(photos.begin(), photos.end());
  return photos;
}

// A field of /proc/self/status in MB ("VmHWM:", "VmRSS:"); 0 if absent.
double status_mb(std::string_view field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(field)) return std::stod(line.substr(field.size())) / 1024;
  }
  return 0;
}

// Writing "5" to /proc/self/clear_refs resets the kernel's RSS high-water mark (VmHWM)
// to the current RSS (Linux >= 4.0). VmHWM is then exact: the kernel updates it on
// every page fault, where a sampler thread polling VmRSS would miss short spikes.
bool reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5" << std::flush;
  return clear_refs.good();
}

struct Result {
  double images_per_second = 0, p50_ms = 0, p99_ms = 0, peak_rss_mb = 0;
};

// Runs one phase and records the highest RSS the process reached during it.
template <class Phase>
Result with_peak_rss(Phase phase) {
  if (!reset_peak_rss()) {
    std::fprintf(stderr, "cannot reset VmHWM (/proc/self/clear_refs): peak RSS is the process's so far\n");
  }
  Result result = phase();
  result.peak_rss_mb = status_mb("VmHWM:");
  return result;
}

Result summarize(std::vector<double> latencies_ms, double seconds) {
  Result r;
  r.images_per_second = static_cast<double>(latencies_ms.size()) / seconds;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  if (!latencies_ms.empty()) {
    r.p50_ms = latencies_ms[latencies_ms.size() / 2];
    r.p99_ms = latencies_ms[latencies_ms.size() * 99 / 100];
  }
  return r;
}

imaging::TransformOptions w800() {
  imaging::TransformOptions options;
  options.width = 800;
  options.format = imaging::OutputFormat::jpeg;
  options.quality = 80;
  return options;
}

// `workers` threads each run `one(i)` back to back for `seconds`; latencies in ms.
template <class One>
std::vector<double> closed_loop(unsigned workers, double seconds, One one) {
  std::mutex mutex;
  std::vector<double> all;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      std::vector<double> mine;
      for (std::size_t i = w; Clock::now() < end; ++i) {
        const auto start = Clock::now();
        one(w, i);
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
      std::lock_guard lock(mutex);
      all.insert(all.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  return all;
}

Result in_process(const std::vector<std::string>& photos, unsigned cores, double seconds) {
  runtime::MetricsRegistry registry;
  runtime::RuntimeMetrics metrics(registry);
  runtime::CpuPool pool({.threads = cores, .queue_length = cores}, metrics);
  runtime::OpenCvBackendGuard backend(pool);
  const auto options = w800();
  // The same job the server runs, submitted to the same kind of pool, 2 per core.
  auto latencies = closed_loop(2 * cores, seconds, [&](unsigned, std::size_t i) {
    const auto& photo = photos[i % photos.size()];
    std::promise<void> done;
    runtime::CpuPool::Job job;
    job.fn = [&](runtime::JobFate) {
      const auto out = imaging::transform({reinterpret_cast<const std::uint8_t*>(photo.data()), photo.size()}, options, {});
      if (out.bytes.empty()) std::fprintf(stderr, "empty output\n");
      done.set_value();
    };
    while (!pool.try_submit(job)) std::this_thread::yield();
    done.get_future().wait();
  });
  return summarize(std::move(latencies), seconds);
}

Result over_http(const std::vector<std::string>& photos, unsigned cores, double seconds) {
  config::Settings settings;
  settings.server.port = 0;
  settings.runtime.io_threads = 1;
  settings.runtime.cpu_threads = cores;
  settings.runtime.cpu_queue_length = 2 * cores;
  settings.storage.data_dir = std::filesystem::temp_directory_path() / "pixelmill-bench-store";
  server::Service service(config::resolve_auto(settings, cores));
  service.start();
  std::vector<std::unique_ptr<test::HttpClient>> clients;
  for (unsigned c = 0; c < 2 * cores; ++c) clients.push_back(std::make_unique<test::HttpClient>(service.port()));
  auto latencies = closed_loop(2 * cores, seconds, [&](unsigned w, std::size_t i) {
    auto res = clients[w]->request(test::http::verb::post, "/v1/resize?w=800&format=jpeg&quality=80",
                                   photos[i % photos.size()], {{"Content-Type", "image/jpeg"}});
    if (res.result() != test::http::status::ok) std::fprintf(stderr, "status %u\n", res.result_int());
  });
  auto result = summarize(std::move(latencies), seconds);
  service.shutdown();
  std::filesystem::remove_all(settings.storage.data_dir);
  return result;
}

// One large image alone: median of 5 transforms with `threads` CPU threads.
double big_image_ms(const std::string& photo, unsigned threads) {
  runtime::MetricsRegistry registry;
  runtime::RuntimeMetrics metrics(registry);
  runtime::CpuPool pool({.threads = threads, .queue_length = 1}, metrics);
  runtime::OpenCvBackendGuard backend(pool);
  auto options = w800();
  std::vector<double> times;
  for (int i = 0; i < 5; ++i) {
    std::promise<double> done;
    runtime::CpuPool::Job job;
    job.fn = [&](runtime::JobFate) {
      const auto start = Clock::now();
      const auto out = imaging::transform({reinterpret_cast<const std::uint8_t*>(photo.data()), photo.size()}, options, {});
      if (out.bytes.empty()) std::fprintf(stderr, "empty output\n");
      done.set_value(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    };
    pool.try_submit(job);
    times.push_back(done.get_future().get());
  }
  std::sort(times.begin(), times.end());
  return times[2];
}

}  // namespace

int main(int argc, char** argv) {
  pixelmill::runtime::prepare_huge_pages(true, argv);  // as the service's main() does
  const double seconds = argc > 1 ? std::stod(argv[1]) : 20;
  spdlog::set_level(spdlog::level::warn);  // no access log in the measurement
  pixelmill::runtime::tune_allocator();    // likewise
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const auto photos = load_photos();
  const Result local = with_peak_rss([&] { return in_process(photos, cores, seconds); });
  const Result http = with_peak_rss([&] { return over_http(photos, cores, seconds); });
  std::printf("| path | images/s | p50 ms | p99 ms | peak RSS, MB |\n|---|---|---|---|---|\n");
  std::printf("| in-process loop | %.2f | %.0f | %.0f | %.0f |\n", local.images_per_second, local.p50_ms,
              local.p99_ms, local.peak_rss_mb);
  std::printf("| HTTP `POST /v1/resize` | %.2f | %.0f | %.0f | %.0f |\n", http.images_per_second,
              http.p50_ms, http.p99_ms, http.peak_rss_mb);
  std::printf("\nHTTP / in-process: **%.2f×** (target ≥ 0.9×)\n\n", http.images_per_second / local.images_per_second);
  // The widest photo, decoded without shrink-on-load (PNG would do; JPEG at w=800 shrinks).
  const std::string& big = *std::max_element(photos.begin(), photos.end(),
                                             [](const auto& a, const auto& b) { return a.size() < b.size(); });
  const double one = big_image_ms(big, 1), all = big_image_ms(big, cores);
  std::printf("| one large JPEG alone (w=800) | 1 CPU thread | %u CPU threads | speed-up |\n|---|---|---|---|\n", cores);
  std::printf("| median of 5, ms | %.0f | %.0f | %.2f× |\n", one, all, one / all);
}
