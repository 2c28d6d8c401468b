// Issue 7: pixelmill against a sharp (libvips) service, side by side in one run.
//   w1           throughput: 2 keep-alive clients per core POST the JPEGs of
//                ../shared/testdata/photos to /v1/resize?w=800&format=jpeg&quality=80;
//                rounds interleave pixelmill, sharp and the in-process entropy-decode
//                floor, so foreign load on a shared machine falls on every row alike.
//                A health probe (GET /healthz every 20 ms) runs through every window
//                (isolation), and each service's peak RSS is read at the window's end.
//   isolation-rt the W1 windows again with real-time scheduling (root): pixelmill's
//                I/O threads in SCHED_RR (--io-rt-priority, runtime.io_rt_priority),
//                sharp's event-loop thread likewise, the probe in SCHED_FIFO above
//                both (--probe-rt-priority), so its numbers exclude the client's own
//                scheduling; images/s shows what the priority costs the throughput.
//   isolation-probe-rt  the W1 windows with both services at their default scheduling and
//                only the probe in SCHED_FIFO: the service's own tail, without the
//                wake-up delay of a probe that shares two cores with the load clients.
//   connections  10,000 idle keep-alive connections (each made one request): RSS per
//                connection, healthz latency with and without them.
//   big          one 24 MP JPEG (generated: a photo scaled to 6000x4000, q90 4:2:0,
//                with and without restart markers) resized alone, --cpu-threads 1 vs 2.
//   alone        each W1 photo alone, one request at a time: pixelmill, pixelmill
//                without huge pages for malloc, sharp; medians and page faults.
//   soak         both services under W1 at once for --soak-seconds, RSS every 10 s.
// Prints Markdown (bench/peers.sh writes it into BENCHMARKS.md via bench/run).
//   peers [--seconds S] [--rounds N] [--clients N]
//         [--phases w1,isolation-rt,isolation-probe-rt,connections,big,alone,soak] [--soak-seconds S]
//         [--connections N] [--io-rt-priority N] [--probe-rt-priority N]
//         [--binary PATH] [--node PATH] [--sharp-dir DIR] [--photos DIR]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>  // before jpeglib.h, which needs FILE
#include <jpeglib.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "metrics_text.hpp"
#include "pixelmill/runtime/allocator.hpp"
#include "support/big_jpeg.hpp"
#include "support/flags.hpp"
#include "support/proc_stats.hpp"
#include "support/resize_load.hpp"
#include "support/service_process.hpp"

using namespace pixelmill;
using bench::Clock;
using bench::Millis;
using bench::Seconds;

namespace {

struct Options {
  Seconds window{30};
  unsigned rounds = 3;
  unsigned clients = 2 * std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::string> phases{"w1", "isolation-rt", "isolation-probe-rt", "connections", "big", "alone", "soak"};
  Seconds soak{300};
  int connections = 10000;
  std::string binary = PIXELMILL_BINARY;
  std::string node = "/usr/bin/node";
  std::filesystem::path sharp_dir = std::string(PIXELMILL_SOURCE_DIR) + "/bench/peers/sharp";
  std::filesystem::path photos = std::string(PIXELMILL_SOURCE_DIR) + "/../shared/testdata/photos";
  std::chrono::milliseconds probe_period{20};
  int io_rt_priority = 1;     // isolation-rt: the services' I/O threads
  int probe_rt_priority = 2;  // isolation-rt and isolation-probe-rt: the probe, above them

  bool wants(const std::string& phase) const {
    return std::find(phases.begin(), phases.end(), phase) != phases.end();
  }
};

Options parse_options(int argc, char** argv) {
  Options o;
  bench::for_each_flag(argc, argv, [&o](const std::string& flag, const std::string& value) {
    if (flag == "--seconds") o.window = Seconds(std::stod(value));
    else if (flag == "--rounds") o.rounds = std::max(1u, static_cast<unsigned>(std::stoul(value)));
    else if (flag == "--clients") o.clients = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--phases") o.phases = bench::split_list(value);
    else if (flag == "--soak-seconds") o.soak = Seconds(std::stod(value));
    else if (flag == "--connections") o.connections = std::stoi(value);
    else if (flag == "--io-rt-priority") o.io_rt_priority = std::stoi(value);
    else if (flag == "--probe-rt-priority") o.probe_rt_priority = std::stoi(value);
    else if (flag == "--binary") o.binary = value;
    else if (flag == "--node") o.node = value;
    else if (flag == "--sharp-dir") o.sharp_dir = value;
    else if (flag == "--photos") o.photos = value;
    else throw std::invalid_argument("unknown flag " + flag);
  });
  return o;
}

// ---------------------------------------------------------------- the services

enum class Peer { pixelmill, sharp };
const char* name(Peer p) { return p == Peer::pixelmill ? "pixelmill" : "sharp"; }

// A fresh service with its defaults, on a free port. pixelmill: the embedded defaults
// (threads from the cores) plus `extra` flags; setsid gives either service its own
// scheduler autogroup, as a service started on its own would have.
std::unique_ptr<bench::ServiceProcess> start(const Options& o, Peer peer, std::vector<std::string> extra = {}) {
  if (peer == Peer::sharp) {
    return std::make_unique<bench::ServiceProcess>(
        std::vector<std::string>{"/usr/bin/setsid", o.node, (o.sharp_dir / "server.js").string(), "0"},
        "listening", R"(127\.0\.0\.1:([0-9]+))");
  }
  const auto data_dir = std::filesystem::temp_directory_path() / ("pixelmill-peers-" + std::to_string(::getpid()));
  std::filesystem::remove_all(data_dir);
  std::vector<std::string> argv{"/usr/bin/setsid", o.binary, "--listen", "127.0.0.1:0", "--data-dir", data_dir.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<bench::ServiceProcess>(std::move(argv), "listening", R"(\bport"?[=:]([0-9]+))");
}

// ---------------------------------------------------------------- the floor

// The floor: libjpeg entropy-decodes each JPEG at 1/8 scale (DC-only IDCT, no colour
// conversion: YCbCr out), nothing else; one thread per core, photos round robin.
struct JpegFailure {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};

bool decode_at_one_eighth(const std::string& jpeg, std::vector<unsigned char>& row) {
  jpeg_decompress_struct cinfo{};
  JpegFailure failure{};
  cinfo.err = jpeg_std_error(&failure.mgr);
  failure.mgr.error_exit = [](j_common_ptr c) { std::longjmp(reinterpret_cast<JpegFailure*>(c->err)->jump, 1); };
  if (setjmp(failure.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(jpeg.data()), jpeg.size());
  jpeg_read_header(&cinfo, TRUE);
  cinfo.scale_num = 1, cinfo.scale_denom = 8;
  cinfo.out_color_space = JCS_YCbCr;
  jpeg_start_decompress(&cinfo);
  row.resize(static_cast<std::size_t>(cinfo.output_width) * cinfo.output_components);
  JSAMPROW rows[1] = {row.data()};
  while (cinfo.output_scanline < cinfo.output_height) jpeg_read_scanlines(&cinfo, rows, 1);
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

std::size_t run_floor(const std::vector<std::string>& photos, Clock::time_point end) {
  std::atomic<std::size_t> done{0};
  std::vector<std::thread> threads;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned t = 0; t < cores; ++t) {
    threads.emplace_back([&, t] {
      std::vector<unsigned char> row;
      for (std::size_t i = t; Clock::now() < end; i += cores) {
        if (decode_at_one_eighth(photos[i % photos.size()], row) && Clock::now() <= end) ++done;
      }
    });
  }
  for (auto& t : threads) t.join();
  return done;
}

// ---------------------------------------------------------------- W1 + isolation

struct W1Row {
  explicit W1Row(std::string row_name) : name(std::move(row_name)) {}
  std::string name;
  std::size_t done = 0, failed = 0;
  Seconds measured{0}, cpu{0};
  std::vector<double> latency_ms, healthz_ms;
  double peak_rss_mib = 0;
  double per_second() const { return static_cast<double>(done) / std::max(measured.count(), 1e-9); }
};

// Real time for the isolation-rt phase: pixelmill through its own setting; sharp's
// event loop is Node's main thread (the process id), its libvips threads stay normal.
std::unique_ptr<bench::ServiceProcess> start_realtime(const Options& o, Peer peer) {
  if (peer == Peer::pixelmill) return start(o, peer, {"--io-rt-priority", std::to_string(o.io_rt_priority)});
  auto service = start(o, peer);
  const sched_param param{.sched_priority = o.io_rt_priority};
  if (sched_setscheduler(service->pid(), SCHED_RR | SCHED_RESET_ON_FORK, &param) != 0) {
    throw std::runtime_error("sharp: SCHED_RR refused for its event loop (run as root)");
  }
  return service;
}

// How a W1 window schedules the services' I/O threads and the health probe.
struct Scheduling {
  bool service_rt = false;  // the services' I/O threads in SCHED_RR
  int probe_priority = 0;   // > 0: the probe in SCHED_FIFO at this priority
};

void w1_round(const Options& o, const std::vector<std::string>& photos, Peer peer, W1Row& row,
              Scheduling scheduling = {}) {
  const auto service = scheduling.service_rt ? start_realtime(o, peer) : start(o, peer);
  const int probe_priority = scheduling.probe_priority;
  bench::ResizeLoad load(service->port(), photos, o.clients);
  load.warm_up();
  const auto cpu_before = bench::process_cpu_time(service->pid());
  const auto begin = Clock::now() + std::chrono::milliseconds(50);
  const auto end = begin + std::chrono::duration_cast<Clock::duration>(o.window / o.rounds);
  auto probing = std::async(std::launch::async, [&] {
    return bench::probe_healthz(service->port(), begin, end, o.probe_period, probe_priority);
  });
  std::this_thread::sleep_until(begin);
  auto result = load.run(end);
  row.cpu += bench::process_cpu_time(service->pid()) - cpu_before;
  row.peak_rss_mib = std::max(row.peak_rss_mib, bench::peak_rss_mib(service->pid()));
  row.done += result.done, row.failed += result.failed;
  row.latency_ms.insert(row.latency_ms.end(), result.latency_ms.begin(), result.latency_ms.end());
  for (double ms : bench::latencies(probing.get())) row.healthz_ms.push_back(ms);
  row.measured += end - begin;
}

void floor_round(const Options& o, const std::vector<std::string>& photos, W1Row& row) {
  const auto begin = Clock::now();
  const auto end = begin + std::chrono::duration_cast<Clock::duration>(o.window / o.rounds);
  row.done += run_floor(photos, end);
  row.measured += Clock::now() - begin;
}

void print_healthz(const W1Row& pm, const W1Row& sharp, bool with_throughput) {
  std::printf("| service | probes | healthz p50 ms | p99 ms | max ms |%s\n|---|---|---|---|---|%s\n",
              with_throughput ? " images/s |" : "", with_throughput ? "---|" : "");
  for (const auto* r : {&pm, &sharp}) {
    std::printf("| %s | %zu | %.2f | %.2f | %.2f |", r->name.c_str(), r->healthz_ms.size(),
                bench::percentile(r->healthz_ms, 0.5), bench::percentile(r->healthz_ms, 0.99),
                bench::percentile(r->healthz_ms, 1.0));
    if (with_throughput) std::printf(" %.2f |", r->per_second());
    std::printf("\n");
  }
}

void print_w1(const Options& o, const W1Row& pm, const W1Row& sharp, const W1Row& floor) {
  std::printf("| service | images/s | p50 ms | p99 ms | CPU ms per image | peak RSS, MiB | failed |\n"
              "|---|---|---|---|---|---|---|\n");
  for (const auto* r : {&pm, &sharp}) {
    std::printf("| %s | %.2f | %.0f | %.0f | %.0f | %.0f | %zu |\n", r->name.c_str(), r->per_second(),
                bench::percentile(r->latency_ms, 0.5), bench::percentile(r->latency_ms, 0.99),
                1000 * r->cpu.count() / std::max<double>(1, static_cast<double>(r->done)), r->peak_rss_mib,
                r->failed);
  }
  std::printf("| floor: libjpeg decode at 1/8 only, in-process, %u threads | %.2f | | | | | |\n",
              std::max(1u, std::thread::hardware_concurrency()), floor.per_second());
  std::printf("\n%u clients, %.0f s per row as %u interleaved rounds. pixelmill / sharp: **%.2f×** images/s "
              "(target ≥ 1.2×); pixelmill / floor: **%.0f%%** (target ≥ 70%%); peak RSS pixelmill / sharp: "
              "**%.2f** (target ≤ 0.5).\n",
              o.clients, o.window.count(), o.rounds, pm.per_second() / std::max(sharp.per_second(), 1e-9),
              100 * pm.per_second() / std::max(floor.per_second(), 1e-9),
              pm.peak_rss_mib / std::max(sharp.peak_rss_mib, 1e-9));
  std::printf("\nIsolation: GET /healthz every %lld ms on its own connection through the same windows.\n\n",
              static_cast<long long>(o.probe_period.count()));
  print_healthz(pm, sharp, false);
  std::printf("\nTarget: pixelmill's healthz p99 ≤ 2 ms and below sharp's.\n");
}

void run_w1(const Options& o, const std::vector<std::string>& photos) {
  W1Row pm{"pixelmill"}, sharp{"sharp"}, floor{"floor"};
  for (unsigned round = 0; round < o.rounds; ++round) {
    w1_round(o, photos, Peer::pixelmill, pm);
    w1_round(o, photos, Peer::sharp, sharp);
    floor_round(o, photos, floor);
  }
  print_w1(o, pm, sharp, floor);
}

// The W1 windows again under `scheduling`, both services in interleaved rounds; prints
// `what` and the healthz table with images/s.
void run_isolation(const Options& o, const std::vector<std::string>& photos, Scheduling scheduling,
                   const std::string& what) {
  W1Row pm{"pixelmill"}, sharp{"sharp"};
  for (unsigned round = 0; round < o.rounds; ++round) {
    w1_round(o, photos, Peer::pixelmill, pm, scheduling);
    w1_round(o, photos, Peer::sharp, sharp, scheduling);
  }
  std::printf("The W1 windows again, %u clients, %.0f s per row as %u interleaved rounds, %s\n\n", o.clients,
              o.window.count(), o.rounds, what.c_str());
  print_healthz(pm, sharp, true);
}

void run_isolation_rt(const Options& o, const std::vector<std::string>& photos) {
  const std::string rt = std::to_string(o.io_rt_priority), probe = std::to_string(o.probe_rt_priority);
  run_isolation(o, photos, {true, o.probe_rt_priority},
                "with real-time scheduling: pixelmill's I/O threads (`--io-rt-priority " + rt +
                    "`) and sharp's event-loop thread in SCHED_RR " + rt + ", the probe in SCHED_FIFO " + probe +
                    ", so a probe's wake-up does not queue behind the load clients either.");
}

void run_isolation_probe_rt(const Options& o, const std::vector<std::string>& photos) {
  run_isolation(o, photos, {false, o.probe_rt_priority},
                "both services at their default scheduling, only the probe in SCHED_FIFO " +
                    std::to_string(o.probe_rt_priority) +
                    ", so a probe's own wake-up does not queue behind the load clients that share the two cores "
                    "with it.");
}

// ---------------------------------------------------------------- connections

bool raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  limit.rlim_cur = limit.rlim_max;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// One connection that made one keep-alive request and then idles: the state a server
// holds for a client between requests. -1 on failure.
int idle_keep_alive(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  static constexpr char request[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  char answer[1024];
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != sizeof request - 1 ||
      ::recv(fd, answer, sizeof answer, 0) <= 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::vector<double> healthz_back_to_back(std::uint16_t port, int count) {
  test::HttpClient client(port);
  std::vector<double> ms;
  for (int i = 0; i < count; ++i) {
    const auto sent = Clock::now();
    client.get("/healthz");
    ms.push_back(Millis(Clock::now() - sent).count());
  }
  return ms;
}

void run_connections(const Options& o) {
  raise_fd_limit();
  std::printf("| service | healthz p50 / p99 ms, no idle connections | with %d idle | p99 ratio | RSS before → "
              "after, MiB | per connection, KiB |\n|---|---|---|---|---|---|\n",
              o.connections);
  for (const Peer peer : {Peer::pixelmill, Peer::sharp}) {
    const auto service = start(o, peer, {"--max-connections", std::to_string(o.connections + 100)});
    healthz_back_to_back(service->port(), 1000);  // warm-up: Node's JIT, allocators
    const auto quiet = healthz_back_to_back(service->port(), 2000);
    const double before = bench::rss_mib(service->pid());
    std::vector<int> fds;
    for (int i = 0; i < o.connections; ++i) {
      const int fd = idle_keep_alive(service->port());
      if (fd < 0) break;
      fds.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // let every session reach its idle read
    const double after = bench::rss_mib(service->pid());
    const auto busy = healthz_back_to_back(service->port(), 2000);
    for (const int fd : fds) ::close(fd);
    const double quiet_p99 = bench::percentile(quiet, 0.99), busy_p99 = bench::percentile(busy, 0.99);
    std::printf("| %s | %.3f / %.3f | %.3f / %.3f | %.2f× | %.0f → %.0f (%zu open) | %.1f |\n", name(peer),
                bench::percentile(quiet, 0.5), quiet_p99, bench::percentile(busy, 0.5), busy_p99,
                busy_p99 / std::max(quiet_p99, 1e-9), before, after, fds.size(),
                (after - before) * 1024 / std::max<double>(1, static_cast<double>(fds.size())));
  }
  std::printf("\nTargets: pixelmill ≤ 8 KiB per idle connection; healthz p99 with them open within 2× of without.\n");
}

// ---------------------------------------------------------------- big image

constexpr int kBigImageRequests = 25;

// One request of `jpeg` resized to w=800, in ms.
double resize_ms(test::HttpClient& client, const std::string& jpeg) {
  const auto sent = Clock::now();
  const auto res = client.request(test::http::verb::post, "/v1/resize?w=800&format=jpeg&quality=80", jpeg,
                                  {{"Content-Type", "image/jpeg"}});
  if (res.result() != test::http::status::ok) throw std::runtime_error("big image: HTTP " + std::to_string(res.result_int()));
  return Millis(Clock::now() - sent).count();
}

// Per service: CPU time per request on its CPU threads (summed) and its I/O thread.
struct ThreadCpu {
  double cpu_ms = 0, io_ms = 0;
};

struct BigImageResult {
  double one_ms = 0, two_ms = 0;
  double stage_ms[4] = {};      // the 1-thread service's time per stage, mean per request
  double two_stage_ms[4] = {};  // the same for the 2-thread service
  ThreadCpu one_cpu, two_cpu;
};

// CPU time of the service's threads so far, in ms: CPU threads summed, I/O thread.
ThreadCpu thread_cpu_ms(const bench::ServiceProcess& service) {
  return {Millis(bench::threads_cpu_time(service.pid(), "pm-cpu-")).count(),
          Millis(bench::threads_cpu_time(service.pid(), "pm-io-")).count()};
}

ThreadCpu per_request(ThreadCpu before, ThreadCpu after, int requests) {
  return {(after.cpu_ms - before.cpu_ms) / requests, (after.io_ms - before.io_ms) / requests};
}

// The mean of pixelmill_cpu_job_seconds{stage=...} per job, in ms, from /metrics.
void read_stage_means(test::HttpClient& client, double (&ms)[4]) {
  const std::string exposition = client.get("/metrics").body();
  const char* const stages[] = {"probe", "decode", "resize", "encode"};
  for (int i = 0; i < 4; ++i) {
    const std::string labels = std::string("{stage=\"") + stages[i] + "\"}";
    const double sum = test::value(exposition, "pixelmill_cpu_job_seconds_sum" + labels);
    const double count = test::value(exposition, "pixelmill_cpu_job_seconds_count" + labels);
    ms[i] = count > 0 ? 1000 * sum / count : 0;
  }
}

// Medians for a service with 1 CPU thread and one with 2, both running, asked in turn
// (one request at a time, so each has the machine alone): a burst of foreign load
// falls on both alike. One warm-up request each.
BigImageResult median_resize_ms(const Options& o, const std::string& jpeg) {
  const auto one = start(o, Peer::pixelmill, {"--cpu-threads", "1", "--io-threads", "1"});
  const auto two = start(o, Peer::pixelmill, {"--cpu-threads", "2", "--io-threads", "1"});
  test::HttpClient client_one(one->port()), client_two(two->port());
  resize_ms(client_one, jpeg);
  resize_ms(client_two, jpeg);
  std::vector<double> ms_one, ms_two;
  const ThreadCpu one_before = thread_cpu_ms(*one), two_before = thread_cpu_ms(*two);
  for (int i = 0; i < kBigImageRequests; ++i) {
    ms_one.push_back(resize_ms(client_one, jpeg));
    ms_two.push_back(resize_ms(client_two, jpeg));
  }
  BigImageResult result;
  result.one_ms = bench::percentile(ms_one, 0.5);
  result.two_ms = bench::percentile(ms_two, 0.5);
  result.one_cpu = per_request(one_before, thread_cpu_ms(*one), kBigImageRequests);
  result.two_cpu = per_request(two_before, thread_cpu_ms(*two), kBigImageRequests);
  read_stage_means(client_one, result.stage_ms);
  read_stage_means(client_two, result.two_stage_ms);
  return result;
}

void run_big(const Options& o, const std::vector<std::string>& photos) {
  std::printf("| 6000x4000 JPEG (2x2 photo mosaic), q90 4:2:0 → w=800 | size, MB | 1 CPU thread, ms | 2 CPU threads, ms | speed-up |\n"
              "|---|---|---|---|---|\n");
  BigImageResult plain, banded;
  for (const bool rst : {false, true}) {
    const auto jpeg = bench::big_jpeg(photos, rst);
    const BigImageResult r = median_resize_ms(o, jpeg);
    (rst ? banded : plain) = r;
    std::printf("| %s | %.1f | %.0f | %.0f | %.2f× |\n", rst ? "restart marker every MCU row" : "no restart markers",
                static_cast<double>(jpeg.size()) / 1e6, r.one_ms, r.two_ms, r.one_ms / std::max(r.two_ms, 1e-9));
  }
  std::printf("\nMedians of %d requests to each of two services (`--cpu-threads 1` and `2`, `--io-threads 1`) "
              "running side by side, asked in turn, one request at a time, after one warm-up each. "
              "Target: ≥ 1.7×.\n", kBigImageRequests);
  // Where the 2-thread time goes, per variant: the decode is split either way now.
  const auto stages = [](const char* what, const BigImageResult& r) {
    const double* one = r.stage_ms;
    const double* two = r.two_stage_ms;
    std::printf("\n%s: time per stage on the request's CPU thread, 1 → 2 CPU threads: probe %.1f → %.1f ms, "
                "decode %.1f → %.1f ms, resize %.1f → %.1f ms, encode %.1f → %.1f ms. CPU time per request "
                "on the CPU threads (summed) %.1f → %.1f ms, on the I/O thread (receiving the upload, "
                "sending the answer) %.2f → %.2f ms.\n",
                what, one[0], two[0], one[1], two[1], one[2], two[2], one[3], two[3], r.one_cpu.cpu_ms,
                r.two_cpu.cpu_ms, r.one_cpu.io_ms, r.two_cpu.io_ms);
  };
  stages("Without restart markers (the decode split by the speculative Huffman decoder)", plain);
  stages("With restart markers (each interval decoded on its own by the split decoder)", banded);
  std::printf("\nThe ETag's SHA-256 runs beside the transform on the other thread.\n");
}

// ---------------------------------------------------------------- photos alone

constexpr int kAloneRequests = 11;
// Warm-up requests per service: each CPU thread's malloc arena grows on the first
// request it transforms (10,000+ page faults for a progressive photo's coefficient
// buffer), and which thread transforms and which hashes varies, so one warm-up left
// the second thread cold, and its faults were averaged into the requests measured
// (1,185-1,469 a request in the table of 2026-12-07, 0 after three warm-ups). Three
// covered both threads of the 2-thread service in the trials; their faults are shown
// apart.
constexpr int kAloneWarmUps = 3;

// One request through `client` to the service `pid`; its minor faults go to `faults`.
double resize_counted(test::HttpClient& client, const std::string& jpeg, pid_t pid, std::vector<double>& faults) {
  const double before = bench::minor_faults(pid);
  const double ms = resize_ms(client, jpeg);
  faults.push_back(bench::minor_faults(pid) - before);
  return ms;
}

// Each photo of W1 alone, one request at a time: the latency a user sees on an idle
// service. pixelmill at its defaults, pixelmill without huge pages for malloc
// (runtime.malloc_huge_pages), and sharp, asked in turn so that foreign load falls on
// all three alike, after kAloneWarmUps warm-ups each.
void run_alone(const Options& o, const std::vector<std::string>& photos) {
  std::printf("| photo | size, MB | pixelmill, ms | pixelmill, no huge pages, ms | sharp, ms | page faults in the %d "
              "warm-ups, pixelmill / no huge pages | page faults per request after them (median) |\n"
              "|---|---|---|---|---|---|---|\n", kAloneWarmUps);
  for (std::size_t p = 0; p < photos.size(); ++p) {
    // Fresh services per photo: what malloc keeps between requests depends on what
    // came before, so every photo starts from the same state.
    const auto pm = start(o, Peer::pixelmill);
    const auto small_pages = start(o, Peer::pixelmill, {"--malloc-huge-pages", "false"});
    const auto sharp = start(o, Peer::sharp);
    test::HttpClient pm_client(pm->port()), small_client(small_pages->port()), sharp_client(sharp->port());
    const std::string& jpeg = photos[p];
    std::vector<double> warm_a, warm_b, faults_a, faults_b;
    for (int i = 0; i < kAloneWarmUps; ++i) {
      resize_counted(pm_client, jpeg, pm->pid(), warm_a);
      resize_counted(small_client, jpeg, small_pages->pid(), warm_b);
      resize_ms(sharp_client, jpeg);
    }
    std::vector<double> a, b, c;
    for (int i = 0; i < kAloneRequests; ++i) {
      a.push_back(resize_counted(pm_client, jpeg, pm->pid(), faults_a));
      b.push_back(resize_counted(small_client, jpeg, small_pages->pid(), faults_b));
      c.push_back(resize_ms(sharp_client, jpeg));
    }
    const auto sum = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); };
    std::printf("| %zu | %.2f | %.1f | %.1f | %.1f | %.0f / %.0f | %.0f / %.0f |\n", p + 1,
                static_cast<double>(jpeg.size()) / 1e6, bench::percentile(a, 0.5), bench::percentile(b, 0.5),
                bench::percentile(c, 0.5), sum(warm_a), sum(warm_b), bench::percentile(faults_a, 0.5),
                bench::percentile(faults_b, 0.5));
  }
  std::printf("\nMedians of %d requests per photo (the JPEGs of W1 in name order, resized to w=800) to each "
              "service, started afresh for each photo, asked in turn, one request at a time, after %d "
              "warm-ups each.\n", kAloneRequests, kAloneWarmUps);
}

// ---------------------------------------------------------------- soak

void run_soak(const Options& o, const std::vector<std::string>& photos) {
  const auto pm = start(o, Peer::pixelmill);
  const auto sharp = start(o, Peer::sharp);
  const unsigned clients = std::max(1u, o.clients / 2);
  bench::ResizeLoad pm_load(pm->port(), photos, clients), sharp_load(sharp->port(), photos, clients);
  const auto begin = Clock::now();
  const auto end = begin + std::chrono::duration_cast<Clock::duration>(o.soak);
  auto a = std::async(std::launch::async, [&] { return pm_load.run(end); });
  auto b = std::async(std::launch::async, [&] { return sharp_load.run(end); });
  std::map<int, std::pair<double, double>> rss;  // second -> (pixelmill, sharp) MiB
  for (auto t = begin; t <= end; t += std::chrono::seconds(10)) {
    std::this_thread::sleep_until(t);
    rss[static_cast<int>(Seconds(t - begin).count())] = {bench::rss_mib(pm->pid()), bench::rss_mib(sharp->pid())};
  }
  const auto pm_done = a.get().done, sharp_done = b.get().done;
  auto column = [&](auto pick) {
    std::vector<double> v;
    for (const auto& [t, pair] : rss) v.push_back(pick(pair));
    return v;
  };
  std::printf("| service | images | RSS at 1 min, MiB | at the end | min | max | end − 1 min |\n|---|---|---|---|---|---|---|\n");
  for (const Peer peer : {Peer::pixelmill, Peer::sharp}) {
    const auto v = column([peer](const auto& p) { return peer == Peer::pixelmill ? p.first : p.second; });
    const double at_minute = v.size() > 6 ? v[6] : v.back();
    std::printf("| %s | %zu | %.0f | %.0f | %.0f | %.0f | %+.0f |\n", name(peer),
                peer == Peer::pixelmill ? pm_done : sharp_done, at_minute, v.back(),
                *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()), v.back() - at_minute);
  }
  // The table shows every third sample (30 s apart); min and max above use all of them.
  std::printf("\nBoth services under W1 at once (%u clients each) for %.0f s, RSS (VmRSS) read every 10 s, "
              "in MiB:\n\n| s |", clients, o.soak.count());
  for (const auto& [t, pair] : rss) if (t % 30 == 0) std::printf(" %d |", t);
  std::printf("\n|---|");
  for (const auto& [t, pair] : rss) if (t % 30 == 0) std::printf("---|");
  for (const Peer peer : {Peer::pixelmill, Peer::sharp}) {
    std::printf("\n| %s |", name(peer));
    for (const auto& [t, pair] : rss) {
      if (t % 30 == 0) std::printf(" %.0f |", peer == Peer::pixelmill ? pair.first : pair.second);
    }
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  // The in-process floor gets the allocator the service has (runtime/allocator.hpp);
  // each service starts without this process's GLIBC_TUNABLES (service_process.hpp).
  runtime::prepare_huge_pages(true, argv);
  runtime::tune_allocator();
  try {
    const auto o = parse_options(argc, argv);
    const auto photos = bench::load_photos(o.photos);
    struct Phase {
      std::string name, title;
      std::function<void()> run;
    };
    const std::vector<Phase> phases{
        {"w1", "W1 throughput, isolation and memory", [&] { run_w1(o, photos); }},
        {"isolation-rt", "Isolation with real-time I/O threads", [&] { run_isolation_rt(o, photos); }},
        {"isolation-probe-rt", "Isolation, default scheduling, real-time probe",
         [&] { run_isolation_probe_rt(o, photos); }},
        {"connections", "Idle connections", [&] { run_connections(o); }},
        {"big", "One big image, 1 vs 2 CPU threads", [&] { run_big(o, photos); }},
        {"alone", "Each photo alone", [&] { run_alone(o, photos); }},
        {"soak", "Memory over a long run", [&] { run_soak(o, photos); }},
    };
    for (const auto& [phase, title, run] : phases) {
      if (!o.wants(phase)) continue;
      std::printf("\n### %s\n\n", title.c_str());
      std::fflush(stdout);
      run();
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peers: %s\n", e.what());
    return 1;
  }
}
