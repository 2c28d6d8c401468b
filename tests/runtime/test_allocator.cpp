// The allocator policy (runtime/allocator.hpp): freed request-sized buffers are reused,
// not returned to the kernel and faulted in again. Counted in page faults of one thread
// (a fresh thread: a non-main glibc arena, like the CPU pool's). glibc only: the
// sanitizers bring their own allocators, which ignore mallopt.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "pixelmill/runtime/allocator.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif

namespace {

long minor_faults_of_this_thread() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// On a new thread, one request after another with growing buffers (2, 4, ... 30 MB,
// as images of growing size would need): each is allocated, written page by page and
// freed. Returns the page faults that cost.
long faults_for_growing_buffers() {
  long faults = 0;
  std::thread([&] {
    const long before = minor_faults_of_this_thread();
    for (std::size_t mb = 2; mb <= 30; mb += 2) {
      const std::size_t bytes = mb << 20;
      auto* block = static_cast<char*>(std::malloc(bytes));
      REQUIRE(block != nullptr);
      std::memset(block, static_cast<int>(mb), bytes);
      std::free(block);
    }
    faults = minor_faults_of_this_thread() - before;
  }).join();
  return faults;
}

}  // namespace

TEST_CASE("allocator policy: freed buffers are reused, each page faulted in once") {
  if (!kGlibcMalloc) return;
  const long largest = (long{30} << 20) / sysconf(_SC_PAGESIZE);
  REQUIRE(pixelmill::runtime::tune_allocator());
  const long faults = faults_for_growing_buffers();
  MESSAGE("buffers of 2..30 MB: " << faults << " page faults (" << largest << " pages in the largest)");
  // Reused: about the largest buffer's pages. glibc's defaults mmap every buffer over
  // the largest freed so far and unmap it on free: every page of all of them, 8x more.
  CHECK(faults < 2 * largest);
  // Values glibc cannot take are refused, not half applied silently.
  CHECK_FALSE(pixelmill::runtime::tune_allocator({.mmap_threshold = std::size_t{1} << 40}));
  REQUIRE(pixelmill::runtime::tune_allocator());
}

TEST_CASE("huge pages: the plan adds glibc.malloc.hugetlb=1 to GLIBC_TUNABLES once, and only when it can work") {
  using pixelmill::runtime::plan_huge_pages;
  const std::string madvise = "always [madvise] never";
  SUBCASE("unset: executes again with the tunable alone") {
    const auto plan = plan_huge_pages(true, nullptr, madvise);
    CHECK(plan.exec_with_tunables == "glibc.malloc.hugetlb=1");
    CHECK(plan.state.on);
    CHECK(plan_huge_pages(true, "", "[always] madvise never").exec_with_tunables == "glibc.malloc.hugetlb=1");
  }
  SUBCASE("other tunables are kept, ours appended") {
    CHECK(plan_huge_pages(true, "glibc.malloc.arena_max=2", madvise).exec_with_tunables ==
          "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
    // A longer name that starts like ours is not ours.
    CHECK(plan_huge_pages(true, "glibc.malloc.hugetlbx=0", madvise).exec_with_tunables ==
          "glibc.malloc.hugetlbx=0:glibc.malloc.hugetlb=1");
  }
  SUBCASE("already named (after the exec, or by the user): no exec, the value decides") {
    const auto after_exec = plan_huge_pages(true, "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1", madvise);
    CHECK(after_exec.exec_with_tunables.empty());
    CHECK(after_exec.state.on);
    CHECK(after_exec.state.reason == "GLIBC_TUNABLES sets glibc.malloc.hugetlb=1");
    const auto user_off = plan_huge_pages(true, "glibc.malloc.hugetlb=0", madvise);
    CHECK(user_off.exec_with_tunables.empty());
    CHECK_FALSE(user_off.state.on);
    CHECK(user_off.state.reason == "GLIBC_TUNABLES sets glibc.malloc.hugetlb=0");
  }
  SUBCASE("not wanted, or no THP in the kernel: no exec") {
    const auto off = plan_huge_pages(false, nullptr, madvise);
    CHECK(off.exec_with_tunables.empty());
    CHECK_FALSE(off.state.on);
    CHECK(off.state.reason == "runtime.malloc_huge_pages = false");
    const auto never = plan_huge_pages(true, nullptr, "always madvise [never]");
    CHECK(never.exec_with_tunables.empty());
    CHECK_FALSE(never.state.on);
    CHECK(never.state.reason == "the kernel offers no transparent huge pages (always madvise [never])");
    const auto none = plan_huge_pages(true, nullptr, "");
    CHECK(none.exec_with_tunables.empty());
    CHECK(none.state.reason == "the kernel offers no transparent huge pages (no /sys/kernel/mm/transparent_hugepage)");
  }
}
