#include "pixelmill/runtime/available_cores.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>
#include <thread>

namespace pixelmill::runtime {
namespace {

std::optional<unsigned long> parse_number(std::string_view text) {
  unsigned long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

unsigned allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return std::thread::hardware_concurrency();
}

// The quota of the process' own cgroup (v2 unified hierarchy, as in containers).
std::optional<unsigned> cgroup_quota_cores() {
  std::ifstream cgroup("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(cgroup, line)) {
    if (line.starts_with("0::")) path = line.substr(3);
  }
  for (const std::string& dir : {"/sys/fs/cgroup" + path, std::string("/sys/fs/cgroup")}) {
    std::ifstream file(dir + "/cpu.max");
    if (std::getline(file, line)) return cores_from_cpu_max(line);
  }
  return std::nullopt;
}

}  // namespace

std::optional<unsigned> cores_from_cpu_max(std::string_view cpu_max) {
  const auto space = cpu_max.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota = parse_number(cpu_max.substr(0, space));  // "max": no quota
  const auto period = parse_number(cpu_max.substr(space + 1));
  if (!quota || !period || *period == 0) return std::nullopt;
  return static_cast<unsigned>(std::max(1ul, (*quota + *period - 1) / *period));
}

unsigned available_cores() {
  unsigned cores = std::max(1u, allowed_cpus());
  if (const auto quota = cgroup_quota_cores()) cores = std::min(cores, *quota);
  return cores;
}

}  // namespace pixelmill::runtime
