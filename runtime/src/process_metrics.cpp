#include "pixelmill/runtime/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>

namespace pixelmill::runtime {
namespace {

struct StatFields {
  double utime_ticks = 0, stime_ticks = 0, start_ticks = 0;
  double vsize_bytes = 0, rss_pages = 0;
};

// /proc/self/stat: the command name (field 2) may contain spaces, so parse after ')'.
StatFields read_self_stat() {
  std::ifstream in("/proc/self/stat");
  std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  StatFields f;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return f;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  for (int index = 3; rest >> field; ++index) {  // field numbers as in proc(5)
    switch (index) {
      case 14: f.utime_ticks = std::stod(field); break;
      case 15: f.stime_ticks = std::stod(field); break;
      case 22: f.start_ticks = std::stod(field); break;
      case 23: f.vsize_bytes = std::stod(field); break;
      case 24: f.rss_pages = std::stod(field); return f;
      default: break;
    }
  }
  return f;
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double value = 0;
      in >> value;
      return value;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

double open_fds() {
  std::error_code ec;
  double count = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++count;
  }
  return count - 1;  // the iterator's own descriptor
}

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{name, help, type, {metric}};
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  using prometheus::MetricType;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const StatFields stat = read_self_stat();
  rlimit fd_limit{};
  getrlimit(RLIMIT_NOFILE, &fd_limit);

  return {
      family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::Counter, (stat.utime_ticks + stat.stime_ticks) / ticks),
      family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
             stat.rss_pages * page),
      family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
             stat.vsize_bytes),
      family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, open_fds()),
      family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
             static_cast<double>(fd_limit.rlim_cur)),
      family("process_start_time_seconds",
             "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
             boot_time_seconds() + stat.start_ticks / ticks),
  };
}

}  // namespace pixelmill::runtime
