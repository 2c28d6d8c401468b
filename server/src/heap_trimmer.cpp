#include "heap_trimmer.hpp"

#include <malloc.h>

namespace pixelmill::server {

void HeapTrimmer::opened(std::size_t open) {
  std::lock_guard lock(mutex_);
  if (open > peak_) peak_ = open;
}

void HeapTrimmer::closed(std::size_t open) {
  {
    std::lock_guard lock(mutex_);
    // A wave: `wave_` fewer than the peak and at most half of it (so a long drain
    // trims a few times, ever closer to empty, not once per `wave_` closes).
    if (peak_ < open + wave_ || open > peak_ / 2) return;
    peak_ = open;  // the next trim needs a new wave
  }
  runtime::CpuPool::Job job;
  job.fn = [](runtime::JobFate fate) {
    if (fate == runtime::JobFate::run) ::malloc_trim(0);
  };
  pool_.try_submit(std::move(job));  // a full queue skips this trim: the next wave will do
}

}  // namespace pixelmill::server
