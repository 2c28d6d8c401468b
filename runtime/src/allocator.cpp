#include "pixelmill/runtime/allocator.hpp"

#include <malloc.h>

#include <climits>

namespace pixelmill::runtime {

bool tune_allocator(const AllocatorPolicy& policy) {
  if (policy.mmap_threshold > INT_MAX || policy.trim_threshold > INT_MAX) return false;
  // mallopt returns 1 on success, 0 on an out-of-range value.
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(policy.mmap_threshold)) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(policy.trim_threshold)) == 1;
  return mmap_ok && trim_ok;
}

}  // namespace pixelmill::runtime
