#pragma once
// The POSIX calls behind ImageStore's atomic, durable writes (private to storage/).
// Every failure is thrown as StorageError carrying the errno of the failing call.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill::storage::detail {

inline constexpr std::string_view kTempPrefix = ".tmp-";

// Temp files are named kTempPrefix + a tag of this host's name + "-" + random.
// Replicas sharing a volume must not delete each other's writes in flight, so the
// start-up cleanup takes only this host's leftovers (a restarted container keeps its
// host name), plus anyone's left untouched for kAbandonedAfter (its writer is gone).
inline constexpr std::chrono::hours kAbandonedAfter{1};
[[nodiscard]] const std::string& host_temp_prefix();
[[nodiscard]] bool is_abandoned_temp(const std::filesystem::directory_entry& file);

// An owned file descriptor (-1 = none); closed on destruction.
class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  [[nodiscard]] int get() const noexcept { return fd_; }
  int release() noexcept;
  // close(2) with its error reported (a deferred write error can surface here).
  void close(const std::filesystem::path& path_for_errors);

private:
  int fd_ = -1;
};

[[noreturn]] void throw_errno(std::string_view operation, const std::filesystem::path& path, int err);

// mkdir `path` (mode 0755) unless it exists; if it was created, fsyncs its parent so
// the new entry survives a crash. Throws if `path` exists but is not a folder.
void make_dir_durable(const std::filesystem::path& path);

// Opens a folder for *at() calls and fsync.
[[nodiscard]] UniqueFd open_dir(const std::filesystem::path& path);

void fsync_fd(int fd, const std::filesystem::path& path_for_errors);

// Creates kTempPrefix + random suffix in the folder `dirfd` (O_CREAT|O_EXCL, 0644),
// writes all of `bytes` and fsyncs it. Returns the temp file's name. On any failure
// the temp file is removed before the StorageError is thrown.
[[nodiscard]] std::string write_temp_file(int dirfd, const std::filesystem::path& dir,
                                          std::span<const std::uint8_t> bytes);

// rename(from, to) within `dirfd`, replacing `to` if it exists.
void rename_replace(int dirfd, const std::string& from, const std::string& to, const std::filesystem::path& dir);

// rename(from, to) within `dirfd` unless `to` exists: true if renamed, false if `to`
// already existed (`from` is then left in place). Atomic where the filesystem supports
// RENAME_NOREPLACE or hard links; otherwise a check followed by a plain rename.
[[nodiscard]] bool rename_noreplace(int dirfd, const std::string& from, const std::string& to,
                                    const std::filesystem::path& dir);

// unlinkat that never throws (cleanup paths).
void unlink_quietly(int dirfd, const std::string& name) noexcept;

// Whole file contents; nullopt if it does not exist. If `expected_size` is given and
// the file's size differs, throws StorageError (EIO) without reading it.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> read_file(const std::filesystem::path& path,
                                                                 std::optional<std::uint64_t> expected_size = {});

// st_size of a regular file; nullopt if it does not exist (ENOENT or ENOTDIR).
[[nodiscard]] std::optional<std::uint64_t> file_size(const std::filesystem::path& path);

}  // namespace pixelmill::storage::detail
