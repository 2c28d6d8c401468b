#pragma once
// The process's allocator policy (glibc malloc), set once by main before any thread
// starts. Every request allocates and frees megabytes (its body, decoded planes, the
// encoded output); by default glibc hands blocks over ~128 KB to mmap and returns
// them to the kernel on free, so the next request's buffers are fresh pages again,
// each one a page fault and a zeroed page (about 3 ms per MB on the benchmark VM).
// Keeping freed memory in malloc's arenas reuses those pages instead: RSS settles at
// the working set's high-water mark and stays flat (bench/peers' soak shows it).
#include <cstddef>
#include <string>

namespace pixelmill::runtime {

struct AllocatorPolicy {
  // Blocks from this size on are mmapped and returned on free: glibc's ceiling
  // (32 MiB on 64-bit), so only images' largest buffers (a 50 MP decode) bypass the
  // arenas. Setting it also stops glibc's own threshold from moving.
  std::size_t mmap_threshold = std::size_t{32} << 20;
  // Free memory at the top of an arena beyond this goes back to the kernel.
  std::size_t trim_threshold = std::size_t{64} << 20;
};

// Applies the policy; false if glibc refused a value (then its defaults stay).
bool tune_allocator(const AllocatorPolicy& policy = {});

// Transparent huge pages for malloc's memory (glibc's tunable glibc.malloc.hugetlb=1:
// glibc 2.36 madvises MADV_HUGEPAGE the main arena's growth, mmapped blocks and a
// thread arena's new heap at the size it is created with, not what a heap grows by
// later: the CPU threads' first heaps stay on 4 KiB pages). What it is for: the
// blocks the policy above cannot keep. libjpeg's coefficient buffer for a progressive
// JPEG is 2 bytes per sample, 36-50 MB for the benchmark's 12-16 MP photos, one array
// per component: above glibc's mmap ceiling, or in an extra heap of a thread's arena,
// which glibc unmaps once it is empty. So a decode can map it afresh and touch it page
// by page: the benchmark's 15.9 MP photo, sent alone again and again, faulted 7,761
// pages a request, 96 with 2 MiB pages (about 10 us a fault on the benchmark VM).
// Under W1's mix of photos the arenas settle: about 2 faults a request.
struct HugePagesState {
  bool on = false;
  std::string reason;  // why on or off, for the start-up log
};

// Call first in main, before any thread starts. glibc reads GLIBC_TUNABLES once, at
// start-up, and has no mallopt for huge pages, so when `wanted`, the kernel offers
// them (/sys/kernel/mm/transparent_hugepage/enabled is not [never]) and
// GLIBC_TUNABLES does not name glibc.malloc.hugetlb yet, this adds it and executes
// /proc/self/exe again with the same arguments: it does not return then. A
// GLIBC_TUNABLES that names the tunable already (after that exec, or set by the
// user) is left as it is.
HugePagesState prepare_huge_pages(bool wanted, char** argv);

// The same decision without the exec, for the tests: given the environment's
// GLIBC_TUNABLES (nullptr: unset) and the kernel's THP mode line, the value to
// execute with (empty: no exec) and the state to report.
struct HugePagesPlan {
  std::string exec_with_tunables;
  HugePagesState state;
};
HugePagesPlan plan_huge_pages(bool wanted, const char* tunables, const std::string& thp_mode);

}  // namespace pixelmill::runtime
