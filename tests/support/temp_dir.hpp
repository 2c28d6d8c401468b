#pragma once
// Scratch folders for tests, and the store's crash-leftover check.

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace pixelmill::test {

// A fresh path under the system temp folder (not created).
inline std::filesystem::path unique_temp_dir(const std::string& prefix) {
  std::random_device random;
  return std::filesystem::temp_directory_path() /
         (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(random()) +
          std::to_string(random()));
}

// A created scratch folder, removed afterwards (write permission restored first, so
// tests that make folders read-only clean up too).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "pixelmill-test") : path_(unique_temp_dir(prefix)) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Temp files (".tmp-*") anywhere under root: what a crashed or failed write leaves.
inline std::size_t temp_files_under(const std::filesystem::path& root) {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().filename().string().starts_with(".tmp-")) ++count;
  }
  return count;
}

}  // namespace pixelmill::test
