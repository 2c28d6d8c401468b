#pragma once
// Settings for a real service in-process on an ephemeral 127.0.0.1 port: small
// pools and queue so limits are reachable, short drain.

#include <thread>

#include "pixelmill/config/settings.hpp"
#include "temp_dir.hpp"

namespace pixelmill::test {

inline config::Settings test_settings() {
  config::Settings s;
  s.server.address = "127.0.0.1";
  s.server.port = 0;
  s.runtime.io_threads = 1;
  s.runtime.cpu_threads = 2;
  s.runtime.cpu_queue_length = 2;
  s.server.drain_timeout = std::chrono::seconds(5);
  s.storage.data_dir = unique_temp_dir("pixelmill-store");
  return config::resolve_auto(s, std::thread::hardware_concurrency());
}

}  // namespace pixelmill::test
