#include "pixelmill/runtime/allocator.hpp"

#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>

namespace pixelmill::runtime {

bool tune_allocator(const AllocatorPolicy& policy) {
  if (policy.mmap_threshold > INT_MAX || policy.trim_threshold > INT_MAX) return false;
  // mallopt returns 1 on success, 0 on an out-of-range value.
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(policy.mmap_threshold)) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(policy.trim_threshold)) == 1;
  return mmap_ok && trim_ok;
}

namespace {

constexpr std::string_view kTunable = "glibc.malloc.hugetlb";
constexpr std::string_view kTunableSet = "glibc.malloc.hugetlb=";

// Whether GLIBC_TUNABLES ("name=value:name=value") names kTunable; its value if so.
bool find_tunable(std::string_view tunables, std::string_view& value) {
  while (!tunables.empty()) {
    const auto end = tunables.find(':');
    const std::string_view item = tunables.substr(0, end);
    if (item.starts_with(kTunableSet)) {
      value = item.substr(kTunableSet.size());
      return true;
    }
    if (end == std::string_view::npos) break;
    tunables.remove_prefix(end + 1);
  }
  return false;
}

std::string read_thp_mode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

HugePagesPlan plan_huge_pages(bool wanted, const char* tunables, const std::string& thp_mode) {
  HugePagesPlan plan;
  std::string_view value;
  if (tunables != nullptr && find_tunable(tunables, value)) {
    // 1: madvise; 2: hugetlbfs pages (needs reserved pages); 0: off.
    plan.state = {value == "1" || value == "2", "GLIBC_TUNABLES sets " + std::string(kTunable) + "=" + std::string(value)};
    return plan;
  }
  if (!wanted) {
    plan.state = {false, "runtime.malloc_huge_pages = false"};
    return plan;
  }
  if (thp_mode.empty() || thp_mode.find("[never]") != std::string::npos) {
    plan.state = {false, "the kernel offers no transparent huge pages (" +
                             (thp_mode.empty() ? std::string("no /sys/kernel/mm/transparent_hugepage") : thp_mode) + ")"};
    return plan;
  }
  const std::string own = std::string(kTunable) + "=1";
  plan.exec_with_tunables = tunables == nullptr || *tunables == '\0' ? own : std::string(tunables) + ":" + own;
  plan.state = {true, ""};
  return plan;
}

HugePagesState prepare_huge_pages(bool wanted, char** argv) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  HugePagesPlan plan = plan_huge_pages(wanted, tunables, read_thp_mode());
  if (plan.exec_with_tunables.empty()) return plan.state;
  const std::string before = tunables == nullptr ? std::string() : std::string(tunables);
  if (::setenv("GLIBC_TUNABLES", plan.exec_with_tunables.c_str(), 1) == 0) {
    ::execv("/proc/self/exe", argv);  // returns only on failure
  }
  const std::string error = std::strerror(errno);
  if (tunables == nullptr) {
    ::unsetenv("GLIBC_TUNABLES");
  } else {
    ::setenv("GLIBC_TUNABLES", before.c_str(), 1);
  }
  return {false, "re-executing /proc/self/exe with GLIBC_TUNABLES failed: " + error};
}

}  // namespace pixelmill::runtime
