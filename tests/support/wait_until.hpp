#pragma once

#include <chrono>
#include <thread>

namespace pixelmill::test {

// Polls `condition` until it holds or `limit` passes; returns its last value.
// For state another thread changes eventually, never for timing assertions.
template <class Condition>
bool wait_until(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > end) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace pixelmill::test
