#pragma once
// Settings for a real service in-process on an ephemeral 127.0.0.1 port: small
// pools and queue so limits are reachable, short drain.

#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "pixelmill/config/settings.hpp"

namespace pixelmill::test {

// A fresh path under the system temp folder (not created).
inline std::filesystem::path unique_temp_dir(const std::string& prefix) {
  std::random_device random;
  return std::filesystem::temp_directory_path() /
         (prefix + "-" + std::to_string(random()) + std::to_string(random()));
}

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
