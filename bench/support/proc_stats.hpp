#pragma once
// What /proc says about a process: its CPU time and its resident memory. Read at
// window edges by the benchmarks, for the server under test and for peers alike.
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace pixelmill::bench {

using Seconds = std::chrono::duration<double>;

// Fields `first` and `first + 1` of /proc/PID/stat (1-based, as in proc(5)), all threads.
inline std::pair<double, double> stat_fields(pid_t pid, int first) {
  std::ifstream stat(std::filesystem::path("/proc") / std::to_string(pid) / "stat");
  std::string line;
  std::getline(stat, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));  // from field 3, the state
  std::string field;
  for (int i = 3; i < first; ++i) fields >> field;
  double a = 0, b = 0;
  fields >> a >> b;
  return {a, b};
}

// utime + stime (fields 14 and 15), all threads.
inline Seconds process_cpu_time(pid_t pid) {
  const auto [utime, stime] = stat_fields(pid, 14);
  return Seconds((utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK)));
}

// Minor page faults so far (field 10), all threads.
inline double minor_faults(pid_t pid) { return stat_fields(pid, 10).first; }

// The CPU time of the process's threads whose name starts with `prefix` (pixelmill's
// "pm-io-", "pm-cpu-"), summed: the first field of /proc/PID/task/TID/schedstat, time
// on a CPU in nanoseconds (utime and stime count in clock ticks, too coarse for one
// request's few milliseconds).
inline Seconds threads_cpu_time(pid_t pid, std::string_view prefix) {
  std::chrono::nanoseconds total{0};
  const auto tasks = std::filesystem::path("/proc") / std::to_string(pid) / "task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::string name;
    std::getline(std::ifstream(task.path() / "comm"), name);
    if (!name.starts_with(prefix)) continue;
    long long ns = 0;
    std::ifstream(task.path() / "schedstat") >> ns;
    total += std::chrono::nanoseconds(ns);
  }
  return total;
}

// A "Vm…:   N kB" line of /proc/PID/status in MiB: VmRSS now, VmHWM the peak since
// start (or since the last reset_peak_rss). 0 when the process is gone.
inline double status_mib(pid_t pid, std::string_view key) {
  std::ifstream status(std::filesystem::path("/proc") / std::to_string(pid) / "status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':') {
      return std::stod(line.substr(key.size() + 1)) / 1024.0;
    }
  }
  return 0;
}

inline double rss_mib(pid_t pid) { return status_mib(pid, "VmRSS"); }
inline double peak_rss_mib(pid_t pid) { return status_mib(pid, "VmHWM"); }

// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0), so a peak can
// be read per phase. False where the kernel refuses.
inline bool reset_peak_rss(pid_t pid) {
  std::ofstream clear(std::filesystem::path("/proc") / std::to_string(pid) / "clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

inline double one_minute_load() {
  std::ifstream in("/proc/loadavg");
  double load = 0;
  in >> load;
  return load;
}

}  // namespace pixelmill::bench
