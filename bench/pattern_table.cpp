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
// --io-rt-priority is a diagnostic: it puts the server's I/O threads in SCHED_RR at N
// (root), to test whether a latency tail comes from the scheduler. Never with inline
// or io_pool: an RT thread that computes takes a whole core from everyone.
#include <pthread.h>
#include <sched.h>
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

#include "child_process.hpp"
#include "http_client.hpp"
#include "metrics_text.hpp"

using namespace pixelmill;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;
using Seconds = std::chrono::duration<double>;

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

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> items;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) items.push_back(item);
  return items;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--seconds") o.window = Seconds(std::stod(value));
    else if (flag == "--io-threads") o.io_threads = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--cpu-threads") o.cpu_threads = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--clients") o.clients = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--probe-period-ms") o.probe_period = std::chrono::milliseconds(std::stoi(value));
    else if (flag == "--binary") o.binary = value;
    else if (flag == "--photos") o.photos = value;
    else if (flag == "--csv-dir") o.csv_dir = value;
    else if (flag == "--own-session") o.own_session = value == "yes";
    else if (flag == "--modes") o.modes = split(value);
    else if (flag == "--rounds") o.rounds = std::max(1u, static_cast<unsigned>(std::stoul(value)));
    else if (flag == "--io-rt-priority") o.io_rt_priority = std::stoi(value);
    else throw std::invalid_argument("unknown flag " + flag);
  }
  if (argc % 2 == 0) throw std::invalid_argument("flags take one value each");
  const bool blocking_mode = std::any_of(o.modes.begin(), o.modes.end(),
                                         [](const auto& m) { return m == "inline" || m == "io_pool"; });
  if (o.io_rt_priority > 0 && blocking_mode) {
    throw std::invalid_argument("--io-rt-priority only with --modes idle,cpu_pool");
  }
  return o;
}

std::vector<std::string> load_photos(const std::filesystem::path& dir) {
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

// The pixelmill child of this process (ChildProcess keeps its pid to itself).
pid_t server_pid() {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    const auto open = line.find('(');
    if (close == std::string::npos || line.substr(open + 1, close - open - 1) != "pixelmill") continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t parent = 0;
    rest >> state >> parent;
    if (parent == ::getpid()) return static_cast<pid_t>(std::stol(entry.path().filename()));
  }
  throw std::runtime_error("pixelmill child not found in /proc");
}

// Diagnostic only (see --io-rt-priority): the server's I/O threads into SCHED_RR.
void make_io_threads_realtime(pid_t pid, int priority) {
  const auto tasks = std::filesystem::path("/proc") / std::to_string(pid) / "task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream comm_file(task.path() / "comm");
    std::string comm;
    if (!std::getline(comm_file, comm) || !comm.starts_with("pm-io-")) continue;
    const sched_param param{.sched_priority = priority};
    if (sched_setscheduler(static_cast<pid_t>(std::stol(task.path().filename())), SCHED_RR, &param) != 0) {
      throw std::runtime_error("sched_setscheduler(SCHED_RR) failed for " + comm);
    }
  }
}

// The real binary as a child process. A thread owns it and keeps reading its stdout
// (access and stall logs): an undrained pipe would block the server's logging.
class ServerProcess {
 public:
  ServerProcess(const Options& o, const std::string& mode, const std::filesystem::path& data_dir) {
    // setsid: the server gets its own session, hence its own scheduler autogroup, as a
    // service started on its own would; else it shares one CPU share with this client.
    std::vector<std::string> argv{o.binary,
                                  "--listen", "127.0.0.1:0",
                                  "--io-threads", std::to_string(o.io_threads),
                                  "--cpu-threads", std::to_string(o.cpu_threads),
                                  "--offload", mode,
                                  "--data-dir", data_dir.string(),
                                  "--log-level", "info"};
    if (o.own_session) argv.insert(argv.begin(), "/usr/bin/setsid");
    std::promise<std::uint16_t> port;
    auto ready = port.get_future();
    owner_ = std::thread([this, argv = std::move(argv), port = std::move(port)]() mutable {
      own(std::move(argv), port);
    });
    try {
      port_ = ready.get();  // own() sets a value or an exception within ~10 s
    } catch (...) {
      stop_ = true;
      owner_.join();
      throw;
    }
  }

  ~ServerProcess() {
    stop_ = true;
    owner_.join();
  }

  std::uint16_t port() const { return port_; }

 private:
  void own(std::vector<std::string> argv, std::promise<std::uint16_t>& port) {
    std::optional<test::ChildProcess> process;
    try {
      process.emplace(std::move(argv));
      const auto line = process->wait_for_line("listening", std::chrono::seconds(10));
      std::smatch match;
      if (!line || !std::regex_search(*line, match, std::regex(R"(\bport"?[=:]([0-9]+))"))) {
        throw std::runtime_error("no listening line; stderr: " + process->stderr_text());
      }
      port.set_value(static_cast<std::uint16_t>(std::stoi(match[1])));
    } catch (...) {
      port.set_exception(std::current_exception());
      return;  // ~ChildProcess kills a child that is still running
    }
    while (!stop_) process->wait(std::chrono::milliseconds(100));
    process->signal(SIGTERM);
    if (process->wait(std::chrono::seconds(30)) != 0) std::fprintf(stderr, "pixelmill did not exit 0\n");
  }

  std::thread owner_;
  std::atomic<bool> stop_{false};
  std::uint16_t port_ = 0;
};

struct Sample {
  double t_s, latency_ms;
};

// This thread's run-queue wait since it started.
SchedWait own_thread_wait() {
  std::ifstream stat("/proc/thread-self/schedstat");
  double run_ns = 0, wait_ns = 0, slices = 0;
  stat >> run_ns >> wait_ns >> slices;
  return {wait_ns / 1e6, slices};
}

// GET /healthz every period on one connection; a new request only once the previous
// one answered, so a blocked I/O thread shows as one long sample plus a gap.
std::pair<std::vector<Sample>, SchedWait> probe(std::uint16_t port, Clock::time_point start, Clock::time_point end,
                          std::chrono::milliseconds period) {
  pthread_setname_np(pthread_self(), "pt-probe");
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
  return {std::move(samples), own_thread_wait()};
}

struct LoadResult {
  std::size_t done = 0, failed = 0;
};

// `clients` keep-alive connections, each POSTing the photos round robin until `end`;
// only answers that arrive before `end` count.
class Load {
 public:
  Load(std::uint16_t port, const std::vector<std::string>& photos, unsigned clients)
      : photos_(photos) {
    for (unsigned c = 0; c < clients; ++c) clients_.push_back(std::make_unique<test::HttpClient>(port));
  }

  // One request per client, all at once, before the window: decoders and allocators are warm.
  void warm_up() {
    each_client([this](std::size_t c) { resize(*clients_[c], c); return LoadResult{}; });
  }

  LoadResult run(Clock::time_point end) {
    return each_client([this, end](std::size_t c) { return drive(c, end); });
  }

 private:
  // Runs fn(c) for every client on a thread of its own; sums the results.
  template <class Fn>
  LoadResult each_client(Fn fn) {
    std::vector<std::future<LoadResult>> workers;
    for (std::size_t c = 0; c < clients_.size(); ++c) workers.push_back(std::async(std::launch::async, fn, c));
    LoadResult total;
    for (auto& w : workers) {
      const auto r = w.get();
      total.done += r.done, total.failed += r.failed;
    }
    return total;
  }

  bool resize(test::HttpClient& client, std::size_t i) {
    const auto res = client.request(test::http::verb::post, "/v1/resize?w=800&format=jpeg&quality=80",
                                    photos_[i % photos_.size()], {{"Content-Type", "image/jpeg"}});
    return res.result() == test::http::status::ok;
  }

  LoadResult drive(std::size_t c, Clock::time_point end) {
    pthread_setname_np(pthread_self(), "pt-load");
    LoadResult r;
    for (std::size_t i = c; Clock::now() < end; i += clients_.size()) {
      const bool ok = resize(*clients_[c], i);
      if (Clock::now() > end) break;
      ++(ok ? r.done : r.failed);
    }
    return r;
  }

  const std::vector<std::string>& photos_;
  std::vector<std::unique_ptr<test::HttpClient>> clients_;
};

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

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(p * static_cast<double>(values.size() - 1))];
}

double healthz_percentile(const Row& row, double p) {
  std::vector<double> latencies;
  for (const auto& s : row.samples) latencies.push_back(s.latency_ms);
  return percentile(std::move(latencies), p);
}

double one_minute_load() {
  std::ifstream in("/proc/loadavg");
  double load = 0;
  in >> load;
  return load;
}

// The server's CPU time (utime + stime, fields 14 and 15 of /proc/PID/stat).
Seconds process_cpu_time(pid_t pid) {
  std::ifstream stat(std::filesystem::path("/proc") / std::to_string(pid) / "stat");
  std::string line;
  std::getline(stat, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));  // from field 3, the state
  std::string field;
  for (int i = 3; i < 14; ++i) fields >> field;
  double utime = 0, stime = 0;
  fields >> utime >> stime;
  return Seconds((utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK)));
}

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
    ServerProcess server(o, mode, data_dir);
    const pid_t pid = server_pid();
    if (o.io_rt_priority > 0) make_io_threads_realtime(pid, o.io_rt_priority);
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
    const auto photos = load_photos(options.photos);
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
