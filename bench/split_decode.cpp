// Issue 7: the split Huffman decoder (imaging/src/jpeg_split_decode.hpp) against
// libjpeg in-process, on the big-image benchmark's 24 MP mosaic (without restart
// markers, and with one every MCU row) and on each baseline photo of
// ../shared/testdata/photos, at 1/4 and 1/8: TurboJPEG on one thread, the split
// decoder as one segment (one piece), and as one segment per CPU thread (with
// markers: 8 runs of intervals per thread; without, also with stealing turned off).
// Each decode is a job on pixelmill's CPU pool with OpenCV's loops on it, as in the
// service. Prints a Markdown table of medians.
//   split_decode [repetitions, default 21]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "jpeg_restart.hpp"
#include "jpeg_split_decode.hpp"
#include "jpeg_yuv.hpp"
#include "pixelmill/runtime/cpu_pool.hpp"
#include "pixelmill/runtime/opencv_backend.hpp"
#include "support/big_jpeg.hpp"
#include "support/resize_load.hpp"

namespace bench = pixelmill::bench;
namespace im = pixelmill::imaging;
namespace rt = pixelmill::runtime;
using Clock = std::chrono::steady_clock;

namespace {

struct Input {
  std::string name, bytes;
};

std::span<const std::uint8_t> span_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// One run of `decode` as a job on `pool`, in ms.
double job_ms(rt::CpuPool& pool, const std::function<bool()>& decode) {
  std::promise<double> done;
  rt::CpuPool::Job job;
  job.fn = [&](rt::JobFate) {
    const auto start = Clock::now();
    if (decode())
      done.set_value(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    else
      done.set_exception(std::make_exception_ptr(std::runtime_error("a decoder refused the file")));
  };
  if (!pool.try_submit(std::move(job))) throw std::runtime_error("the pool refused the job");
  return done.get_future().get();
}

double median(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Median ms of `decode` run `reps` times as a job on `pool`.
double median_ms(rt::CpuPool& pool, int reps, const std::function<bool()>& decode) {
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) ms.push_back(job_ms(pool, decode));
  return median(ms);
}

// Medians of `a` and `b`, run in turn `reps` times each, so that a slow spell of the
// shared host falls on both.
std::pair<double, double> median_pair_ms(rt::CpuPool& pool, int reps, const std::function<bool()>& a,
                                         const std::function<bool()>& b) {
  std::vector<double> ms_a, ms_b;
  for (int i = 0; i < reps; ++i) {
    ms_a.push_back(job_ms(pool, a));
    ms_b.push_back(job_ms(pool, b));
  }
  return {median(ms_a), median(ms_b)};
}

void row(rt::CpuPool& pool, int reps, const Input& input, int scale, unsigned threads) {
  const auto bytes = span_of(input.bytes);
  const auto header = im::read_yuv_header(bytes);
  const auto layout = im::scan_layout(bytes);
  if (!header || !layout) return;  // not for the split decoder
  const int w = (header->width + scale - 1) / scale, h = (header->height + scale - 1) / scale;
  im::YuvPlanes planes = im::allocate_yuv_planes(w, h, header->subsampling);
  const auto split = [&](int segments, bool steal) {
    return [&, segments, steal] {
      // scan_layout too: the service runs it before every split decode.
      const auto fresh = im::scan_layout(bytes);
      im::SplitDecodeOptions options;
      options.segments = segments;
      options.steal = steal;
      return fresh && im::decode_split_into(bytes, *fresh, scale, w, h, header->subsampling, options, planes.view());
    };
  };
  const double lib = median_ms(pool, reps, [&] { return im::decode_yuv_into(bytes, w, h, planes.view()); });
  const double one = median_ms(pool, reps, split(1, true));
  const auto [all, fixed] = median_pair_ms(pool, reps, split(static_cast<int>(threads), true),
                                           split(static_cast<int>(threads), false));
  char without[64] = "—";  // with restart markers the runs of intervals are handed out as they come free
  if (layout->restart_interval == 0) std::snprintf(without, sizeof without, "%.1f", fixed);
  std::printf("| %s | 1/%d | %.1f | %.1f (%.2f×) | %.1f (%.2f× of one segment) | %s |\n", input.name.c_str(), scale,
              lib, one, lib / one, all, one / all, without);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 21;
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    const std::filesystem::path dir = std::string(PIXELMILL_SOURCE_DIR) + "/../shared/testdata/photos";
    const auto photos = bench::load_photos(dir);
    std::vector<std::string> names;  // in load_photos' order: sorted paths
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      if (entry.path().extension() == ".jpg") names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    std::vector<Input> inputs{{"6000x4000 mosaic, q90 4:2:0", bench::big_jpeg(photos, false)},
                              {"the same, a restart marker every MCU row", bench::big_jpeg(photos, true)}};
    for (std::size_t i = 0; i < photos.size(); ++i) inputs.push_back({names.at(i), photos[i]});

    rt::MetricsRegistry registry;
    rt::RuntimeMetrics metrics{registry};
    rt::CpuPool pool{{.threads = threads, .queue_length = 1}, metrics};
    rt::OpenCvBackendGuard backend{pool};
    std::printf("| JPEG (baseline) | scale | libjpeg, 1 thread, ms | split decoder, 1 segment, ms "
                "| split decoder, %u segments on %u threads, ms | the same, no segment split while it runs, ms |\n"
                "|---|---|---|---|---|---|\n",
                threads, threads);
    for (const Input& input : inputs)
      for (const int scale : {4, 8}) row(pool, reps, input, scale, threads);
    std::printf("\nMedians of %d decodes each, every decode a job on pixelmill's CPU pool (%u threads, OpenCV's "
                "loops on it), the split decoder's times including the scan_layout() the service runs first. "
                "Progressive photos are skipped: the split decoder does not take them. With restart markers the "
                "split decoder decodes each interval on its own (no speculation), %u runs of intervals on %u "
                "threads. Without them, a task that finishes early takes over the second half of what a running "
                "segment has left (SplitDecodeOptions::steal); the last column turns that off, its decodes "
                "alternating with the column before.\n",
                reps, threads, 8 * threads, threads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "split_decode: %s\n", e.what());
    return 1;
  }
}
