#pragma once
// Gives the heap back to the OS after a wave of connections closes. glibc keeps
// freed memory in its arenas, so after 10,000 idle connections come and go RSS would
// stay at its peak and look like a leak. When the open-connection count has fallen
// by `wave` and by half since its peak, malloc_trim(0) runs once, on a CPU thread:
// it walks the whole heap, which is not work for an I/O thread.

#include <cstddef>
#include <mutex>

#include "pixelmill/runtime/cpu_pool.hpp"

namespace pixelmill::server {

class HeapTrimmer {
 public:
  explicit HeapTrimmer(runtime::CpuPool& pool, std::size_t wave = 1000) : pool_(pool), wave_(wave) {}

  // Both called with the number of connections open after the change.
  void opened(std::size_t open);
  void closed(std::size_t open);

 private:
  runtime::CpuPool& pool_;
  const std::size_t wave_;
  mutable std::mutex mutex_;
  std::size_t peak_ = 0;
};

}  // namespace pixelmill::server
