#pragma once
// The process's allocator policy (glibc malloc), set once by main before any thread
// starts. Every request allocates and frees megabytes (its body, decoded planes, the
// encoded output); by default glibc hands blocks over ~128 KB to mmap and returns
// them to the kernel on free, so the next request's buffers are fresh pages again,
// each one a page fault and a zeroed page (about 3 ms per MB on the benchmark VM).
// Keeping freed memory in malloc's arenas reuses those pages instead: RSS settles at
// the working set's high-water mark and stays flat (bench/peers' soak shows it).
#include <cstddef>

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

}  // namespace pixelmill::runtime
