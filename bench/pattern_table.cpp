// Issue 4's pattern table: CPU work beside async I/O, one row per runtime.offload mode.
// For each mode the real pixelmill binary is started on 127.0.0.1 with the same thread
// counts; keep-alive clients drive a steady POST /v1/resize load with the JPEGs of
// ../shared/testdata/photos while a probe on its own connection measures GET /healthz
// every period (next request only after the previous answer). /metrics is scraped just
// before and after each window, so the server's own view (I/O lag, stalls, queue wait)
// covers exactly the windows. An idle row (probe only) is the baseline. Each mode's
// time is split into rounds that interleave the modes (idle, inline, io_pool, cpu_pool,
// idle, ...), so the foreign load of a shared machine falls on every row alike.
// Prints Markdown; writes one CSV per row (t_s,latency_ms) for bench/pattern_table.gp.
//   pattern_table [--seconds S per mode] [--rounds N] [--io-threads N] [--cpu-threads N]
//                 [--clients N] [--probe-period-ms N] [--binary PATH] [--photos DIR]
//                 [--csv-dir DIR] [--own-session yes|no]
//                 [--modes idle,inline,io_pool,cpu_pool] [--io-rt-priority N]
// --io-rt-priority N starts the server with runtime.io_rt_priority = N (I/O threads in
// SCHED_RR; root), to test whether a latency tail comes from the scheduler. Never with
// inline or io_pool: an RT thread that computes takes a whole core from everyone.
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "metrics_text.hpp"
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
  Seconds window{15};
  unsigned io_threads = 2, cpu_threads = 2;
  unsigned clients = 2 * std::max(1u, std::thread::hardware_concurrency());
  std::chrono::milliseconds probe_period{20};
  std::string binary = PIXELMILL_BINARY;
  std::filesystem::path photos = std::string(PIXELMILL_SOURCE_DIR) + "/../shared/testdata/photos";
  std::filesystem::path csv_dir = ".";
  bool own_session = true;
  std::vector<std::string> modes{"idle", "inline", "io_pool", "cpu_pool"};
  unsigned rounds = 3;
  int io_rt_priority = 0;
};

Options parse_options(int argc, char** argv) {
  Options o;
  bench::for_each_flag(argc, argv, [&o](const std::string& flag, const std::string& value) {
    if (flag == "--seconds") o.window = Seconds(std::stod(value));
    else if (flag == "--io-threads") o.io_threads = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--cpu-threads") o.cpu_threads = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--clients") o.clients = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--probe-period-ms") o.probe_period = std::chrono::milliseconds(std::stoi(value));
    else if (flag == "--binary") o.binary = value;
    else if (flag == "--photos") o.photos = value;
    else if (flag == "--csv-dir") o.csv_dir = value;
    else if (flag == "--own-session") o.own_session = value == "yes";
    else if (flag == "--modes") o.modes = bench::split_list(value);
    else if (flag == "--rounds") o.rounds = std::max(1u, static_cast<unsigned>(std::stoul(value)));
    else if (flag == "--io-rt-priority") o.io_rt_priority = std::stoi(value);
    else throw std::invalid_argument("unknown flag " + flag);
  });
  const bool blocking_mode = std::any_of(o.modes.begin(), o.modes.end(),
                                         [](const auto& m) { return m == "inline" || m == "io_pool"; });
  if (o.io_rt_priority > 0 && blocking_mode) {
    throw std::invalid_argument("--io-rt-priority only with --modes idle,cpu_pool");
  }
  return o;
}

Seconds own_cpu_time() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return Seconds(t.tv_sec + t.tv_usec / 1e6); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Run-queue wait from /proc/PID/task/*/schedstat ("run_ns wait_ns slices"), summed by
// thread name without its index (pm-io-0 -> pm-io): shows whether a thread that should
// answer at once was runnable but not running (the scheduler, not the service).
struct SchedWait {
  double wait_ms = 0, slices = 0;
};
using SchedWaits = std::map<std::string, SchedWait>;

SchedWaits sched_waits(pid_t pid) {
  SchedWaits result;
  const auto tasks = std::filesystem::path("/proc") / std::to_string(pid) / "task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream comm_file(task.path() / "comm"), stat_file(task.path() / "schedstat");
    std::string comm;
    double run_ns = 0, wait_ns = 0, slices = 0;
    if (!std::getline(comm_file, comm) || !(stat_file >> run_ns >> wait_ns >> slices)) continue;
    auto& entry = result[comm.substr(0, comm.find_last_not_of("0123456789") + 1)];
    entry.wait_ms += wait_ns / 1e6, entry.slices += slices;
  }
  return result;
}

// The real binary on a free port. setsid: the server gets its own session, hence its
// own scheduler autogroup, as a service started on its own would; else it shares one
// CPU share with this client.
std::unique_ptr<bench::ServiceProcess> start_server(const Options& o, const std::string& mode,
                                                    const std::filesystem::path& data_dir) {
  std::vector<std::string> argv{o.binary,
                                "--listen", "127.0.0.1:0",
                                "--io-threads", std::to_string(o.io_threads),
                                "--cpu-threads", std::to_string(o.cpu_threads),
                                "--offload", mode,
                                "--data-dir", data_dir.string(),
                                "--log-level", "info"};
  if (o.io_rt_priority > 0) {
    argv.insert(argv.end(), {"--io-rt-priority", std::to_string(o.io_rt_priority)});
  }
  if (o.own_session) argv.insert(argv.begin(), "/usr/bin/setsid");
  return std::make_unique<bench::ServiceProcess>(std::move(argv), "listening", R"(\bport"?[=:]([0-9]+))");
}

using bench::Sample;

// This thread's run-queue wait since it started.
SchedWait own_thread_wait() {
  std::ifstream stat("/proc/thread-self/schedstat");
  double run_ns = 0, wait_ns = 0, slices = 0;
  stat >> run_ns >> wait_ns >> slices;
  return {wait_ns / 1e6, slices};
}

// The health probe, plus its own thread's run-queue wait.
std::pair<std::vector<Sample>, SchedWait> probe(std::uint16_t port, Clock::time_point start, Clock::time_point end,
                                                std::chrono::milliseconds period) {
  auto samples = bench::probe_healthz(port, start, end, period);
  return {std::move(samples), own_thread_wait()};
}

using bench::LoadResult;
using Load = bench::ResizeLoad;

// Cumulative bucket counts of one histogram, summed over its label sets (`sum by (le)`).
std::map<double, double> buckets(const std::string& exposition, const std::string& name) {
  std::map<double, double> result;
  std::istringstream lines(exposition);
  const std::regex le(R"(le="([^"]+)\")");
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(name + "_bucket{")) continue;
    std::smatch match;
    if (!std::regex_search(line, match, le)) continue;
    const double bound = match[1] == "+Inf" ? HUGE_VAL : std::stod(match[1]);
    result[bound] += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return result;
}

using Buckets = std::map<double, double>;  // upper bound -> cumulative count

// after - before, bucket by bucket, added into `total` (rounds add up).
void add_increments(Buckets& total, const Buckets& before, const Buckets& after) {
  for (const auto& [bound, count] : after) {
    const auto b = before.find(bound);
    total[bound] += count - (b == before.end() ? 0 : b->second);
  }
}

// Prometheus' histogram_quantile (linear within a bucket); nullopt without
// observations; the last finite bound when the quantile is in +Inf.
std::optional<double> quantile(const Buckets& cumulative, double q) {
  if (cumulative.empty() || cumulative.rbegin()->second <= 0) return std::nullopt;
  const double rank = q * cumulative.rbegin()->second;
  double lower = 0, below = 0;
  for (const auto& [bound, count] : cumulative) {
    if (count >= rank) {
      if (bound == HUGE_VAL) return lower;
      return lower + (bound - lower) * (rank - below) / std::max(count - below, 1e-12);
    }
    lower = bound, below = count;
  }
  return lower;
}

std::string scrape(test::HttpClient& client) { return client.get("/metrics").body(); }

// One mode's measurements, summed over its rounds.
struct Row {
  std::string name;
  bool loaded = false;
  std::size_t done = 0, failed = 0;
  Seconds measured{0};
  std::vector<Sample> samples;
  Buckets lag, queue_wait;  // bucket increments over the windows
  double stalls = 0;
  Seconds server_cpu{0}, client_cpu{0};
  SchedWaits waits;           // server threads by name, plus "probe"
  std::vector<double> loads;  // 1-min load average at each window's start and end

  double images_per_second() const { return static_cast<double>(done) / measured.count(); }
  double server_cores() const { return server_cpu / measured; }
};

double healthz_percentile(const Row& row, double p) { return bench::percentile(bench::latencies(row.samples), p); }

using bench::one_minute_load;
using bench::process_cpu_time;

// CPU and run-queue waits at one edge of a window, read from /proc: exact even while
// the server's I/O threads are blocked.
struct ProcSnapshot {
  Seconds server_cpu, client_cpu;
  SchedWaits server_waits;
};

ProcSnapshot proc_snapshot(pid_t pid) { return {process_cpu_time(pid), own_cpu_time(), sched_waits(pid)}; }

// Adds one window's CPU time and run-queue waits.
void add_proc_window(Row& row, const ProcSnapshot& before, const ProcSnapshot& after) {
  row.server_cpu += after.server_cpu - before.server_cpu;
  row.client_cpu += after.client_cpu - before.client_cpu;
  for (const auto& [name, wait] : after.server_waits) {
    const auto b = before.server_waits.find(name);
    const SchedWait base = b == before.server_waits.end() ? SchedWait{} : b->second;
    row.waits[name].wait_ms += wait.wait_ms - base.wait_ms;
    row.waits[name].slices += wait.slices - base.slices;
  }
}

// Adds the server's own view from two /metrics scrapes.
void add_metrics_window(Row& row, const std::string& before, const std::string& after) {
  for (auto [total, name] : {std::pair{&row.lag, "pixelmill_io_loop_lag_seconds"},
                             std::pair{&row.queue_wait, "pixelmill_cpu_queue_wait_seconds"}}) {
    add_increments(*total, buckets(before, name), buckets(after, name));
  }
  row.stalls += test::value(after, "pixelmill_io_stalls_total") - test::value(before, "pixelmill_io_stalls_total");
}

// Runs the load (if any) and the probe over [start, end); adds throughput, samples and
// the /proc view at exactly `end`. Jobs in flight at `end` finish afterwards, uncounted.
void run_window(const Options& o, Row& row, std::optional<Load>& load, std::uint16_t port, pid_t pid,
                Clock::time_point start, Clock::time_point end) {
  const auto before = proc_snapshot(pid);
  auto probing = std::async(std::launch::async, [&] { return probe(port, start, end, o.probe_period); });
  std::future<LoadResult> loading;
  if (load) loading = std::async(std::launch::async, [&] {
    std::this_thread::sleep_until(start);
    return load->run(end);
  });
  std::this_thread::sleep_until(end);
  add_proc_window(row, before, proc_snapshot(pid));
  if (loading.valid()) {
    const auto result = loading.get();
    row.done += result.done, row.failed += result.failed;
  }
  auto [samples, probe_wait] = probing.get();
  for (auto& s : samples) row.samples.push_back({s.t_s + row.measured.count(), s.latency_ms});
  row.waits["probe"].wait_ms += probe_wait.wait_ms, row.waits["probe"].slices += probe_wait.slices;
  row.measured += end - start;
}

// One window of `o.window / o.rounds` for one mode, added to `row`; its samples' times
// continue where the previous round's ended, so a mode reads as one timeline.
void measure_round(const Options& o, const std::vector<std::string>& photos, const std::string& mode, Row& row) {
  const auto data_dir = std::filesystem::temp_directory_path() / ("pixelmill-pattern-" + row.name);
  std::filesystem::remove_all(data_dir);
  row.loads.push_back(one_minute_load());
  {
    const auto server_process = start_server(o, mode, data_dir);
    const auto& server = *server_process;
    const pid_t pid = server.pid();
    // Connection order is fixed (metrics, load clients, probe) so the server's round
    // robin puts them on the same I/O threads in every mode.
    test::HttpClient metrics(server.port());
    std::optional<Load> load;
    if (row.loaded) load.emplace(server.port(), photos, o.clients);
    if (load) load->warm_up();
    const auto metrics_before = scrape(metrics);
    const auto start = Clock::now() + std::chrono::milliseconds(50);
    run_window(o, row, load, server.port(), pid, start,
               start + std::chrono::duration_cast<Clock::duration>(o.window / o.rounds));
    // After the in-flight jobs drained: an inline server answers nothing sooner.
    add_metrics_window(row, metrics_before, scrape(metrics));
  }
  std::filesystem::remove_all(data_dir);
  row.loads.push_back(one_minute_load());
}

void write_csv(const Row& row, const std::filesystem::path& dir) {
  std::ofstream out(dir / ("healthz-" + row.name + ".csv"));
  out << "t_s,latency_ms\n";
  for (const auto& s : row.samples) out << s.t_s << ',' << s.latency_ms << '\n';
}

std::string ms(std::optional<double> seconds) {
  if (!seconds) return "—";
  char text[32];
  std::snprintf(text, sizeof text, *seconds < 0.01 ? "%.2f" : "%.0f", *seconds * 1000);
  return text;
}

void print_table(const Options& o, const std::vector<Row>& rows) {
  std::printf("| mode | resize img/s | healthz p50 / p99 / max ms | probes | server I/O lag p99 ms | stalls | "
              "queue wait p99 ms |\n|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    char throughput[32] = "— (no load)";
    if (r.loaded) std::snprintf(throughput, sizeof throughput, "%.1f", r.images_per_second());
    std::printf("| %s | %s | %s / %s / %s | %zu | %s | %.0f | %s |\n", r.name.c_str(), throughput,
                ms(healthz_percentile(r, 0.5) / 1000).c_str(), ms(healthz_percentile(r, 0.99) / 1000).c_str(),
                ms(healthz_percentile(r, 1.0) / 1000).c_str(), r.samples.size(), ms(quantile(r.lag, 0.99)).c_str(),
                r.stalls, ms(quantile(r.queue_wait, 0.99)).c_str());
  }
  std::printf("\n%u I/O threads, %u CPU threads (nice +10), %u keep-alive resize clients, healthz every %lld ms; "
              "%.0f s per mode as %u interleaved rounds of %.0f s; lag and queue wait are bucket-interpolated.",
              o.io_threads, o.cpu_threads, o.clients, static_cast<long long>(o.probe_period.count()),
              o.window.count(), o.rounds, o.window.count() / o.rounds);
  for (const auto& r : rows) {
    if (r.failed > 0) std::printf(" %s: %zu resize requests failed.", r.name.c_str(), r.failed);
  }
  std::printf("\n");
}

const Row* find_row(const std::vector<Row>& rows, const std::string& name) {
  const auto found = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.name == name; });
  return found == rows.end() ? nullptr : &*found;
}

// "a x; b y; c z" over the loaded rows.
template <class Value>
std::string per_loaded_row(const std::vector<Row>& rows, const char* format, Value value) {
  std::string text;
  for (const auto& r : rows) {
    if (!r.loaded) continue;
    char cell[96];
    std::snprintf(cell, sizeof cell, format, r.name.c_str(), value(r));
    text += (text.empty() ? "" : ", ") + std::string(cell);
  }
  return text;
}

// The run's own ratios: rows of one run share the machine's noise, runs do not.
void print_ratios(const std::vector<Row>& rows) {
  std::printf("\nWithin this run:");
  if (const Row* idle = find_row(rows, "idle")) {
    const double idle_p99 = healthz_percentile(*idle, 0.99);
    std::printf(" healthz p99 over idle (%.2f ms): %s.", idle_p99,
                per_loaded_row(rows, "%s %+.1f ms", [&](const Row& r) {
                  return healthz_percentile(r, 0.99) - idle_p99;
                }).c_str());
  }
  if (const Row* cpu_pool = find_row(rows, "cpu_pool")) {
    std::printf(" Resize throughput relative to cpu_pool: %s.",
                per_loaded_row(rows, "%s %.2f×", [&](const Row& r) {
                  return r.images_per_second() / std::max(cpu_pool->images_per_second(), 1e-9);
                }).c_str());
  }
  std::printf(" Images per server CPU-second: %s.\n",
              per_loaded_row(rows, "%s %.1f", [](const Row& r) {
                return r.images_per_second() / std::max(r.server_cores(), 1e-9);
              }).c_str());
}

std::string wait_cell(const Row& r, const std::string& thread) {
  const auto found = r.waits.find(thread);
  if (found == r.waits.end() || found->second.slices <= 0) return "—";
  char text[64];
  std::snprintf(text, sizeof text, "%.2f (%.0f)", found->second.wait_ms / found->second.slices,
                found->second.wait_ms / r.measured.count());
  return text;
}

// Where the time went: did the threads that answer healthz get a core when runnable?
void print_diagnostics(const std::vector<Row>& rows) {
  std::printf("\n| mode | server CPU, cores | bench client CPU, cores | run-queue wait, ms per run (ms per s): "
              "I/O threads | CPU threads | probe | 1-min load avg, min–max |\n|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    const auto [low, high] = std::minmax_element(r.loads.begin(), r.loads.end());
    std::printf("| %s | %.2f | %.2f | %s | %s | %s | %.2f–%.2f |\n", r.name.c_str(), r.server_cores(),
                r.client_cpu / r.measured, wait_cell(r, "pm-io-").c_str(), wait_cell(r, "pm-cpu-").c_str(),
                wait_cell(r, "probe").c_str(), *low, *high);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto options = parse_options(argc, argv);
    const auto photos = bench::load_photos(options.photos);
    std::filesystem::create_directories(options.csv_dir);
    std::vector<Row> rows;
    for (const auto& mode : options.modes) {
      Row row;
      row.name = mode, row.loaded = mode != "idle";
      rows.push_back(row);
    }
    // Rounds interleave the modes, so a burst of foreign load hits all of them alike.
    for (unsigned round = 0; round < options.rounds; ++round) {
      for (auto& row : rows) measure_round(options, photos, row.loaded ? row.name : "cpu_pool", row);
    }
    for (const auto& row : rows) write_csv(row, options.csv_dir);
    print_table(options, rows);
    print_ratios(rows);
    print_diagnostics(rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pattern_table: %s\n", e.what());
    return 1;
  }
}
