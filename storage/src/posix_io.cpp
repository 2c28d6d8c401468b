#include "posix_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>  // renameat2, RENAME_NOREPLACE (glibc >= 2.28)
#include <cstring>
#include <random>

#include "pixelmill/storage/storage_error.hpp"

namespace pixelmill::storage::detail {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::close(const std::filesystem::path& path_for_errors) {
  // Linux releases the descriptor even when close fails: never retry.
  if (::close(release()) != 0 && errno != EINTR) throw_errno("close", path_for_errors, errno);
}

void throw_errno(std::string_view operation, const std::filesystem::path& path, int err) {
  std::string message;
  message.append(operation).append(" ").append(path.string()).append(": ").append(std::strerror(err));
  throw StorageError(message, err);
}

void fsync_fd(int fd, const std::filesystem::path& path_for_errors) {
  int rc;
  do rc = ::fsync(fd);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) throw_errno("fsync", path_for_errors, errno);
}

UniqueFd open_dir(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("open folder", path, errno);
  return UniqueFd(fd);
}

void make_dir_durable(const std::filesystem::path& path) {
  if (::mkdir(path.c_str(), 0755) == 0) {
    const auto parent = path.parent_path();
    UniqueFd dir = open_dir(parent);
    fsync_fd(dir.get(), parent);
    return;
  }
  const int err = errno;
  if (err != EEXIST) throw_errno("mkdir", path, err);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path, errno);
  if (!S_ISDIR(st.st_mode)) throw_errno("mkdir", path, ENOTDIR);
}

namespace {

std::string random_temp_name() {
  std::random_device rd;  // getrandom(2): distinct across threads and forked processes
  const std::uint64_t r = (std::uint64_t{rd()} << 32) ^ rd();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name(host_temp_prefix());
  for (int shift = 60; shift >= 0; shift -= 4) name.push_back(kHex[(r >> shift) & 0xf]);
  return name;
}

}  // namespace

const std::string& host_temp_prefix() {
  static const std::string prefix = [] {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    std::uint32_t hash = 2166136261u;  // FNV-1a: the same in every build, unlike std::hash
    for (const char* c = host; *c != '\0'; ++c) hash = (hash ^ static_cast<unsigned char>(*c)) * 16777619u;
    char tag[16];
    std::snprintf(tag, sizeof tag, "%08x-", hash);
    return std::string(kTempPrefix) + tag;
  }();
  return prefix;
}

bool is_abandoned_temp(const std::filesystem::directory_entry& file) {
  const std::string name = file.path().filename().string();
  if (!name.starts_with(kTempPrefix)) return false;
  if (name.starts_with(host_temp_prefix())) return true;
  std::error_code ec;
  const auto written = file.last_write_time(ec);
  return !ec && std::filesystem::file_time_type::clock::now() - written > kAbandonedAfter;
}

std::string write_temp_file(int dirfd, const std::filesystem::path& dir, std::span<const std::uint8_t> bytes) {
  std::string name;
  UniqueFd fd;
  for (int attempt = 0;; ++attempt) {
    name = random_temp_name();
    const int raw = ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (raw >= 0) {
      fd = UniqueFd(raw);
      break;
    }
    if (errno != EEXIST || attempt == 15) throw_errno("create", dir / name, errno);
  }

  const auto path = dir / name;
  try {
    const std::uint8_t* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
      const std::size_t chunk = std::min<std::size_t>(left, std::size_t{1} << 30);
      const ssize_t n = ::write(fd.get(), p, chunk);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("write", path, errno);
      }
      if (n == 0) throw_errno("write", path, EIO);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    fsync_fd(fd.get(), path);
    fd.close(path);
  } catch (...) {
    unlink_quietly(dirfd, name);
    throw;
  }
  return name;
}

void rename_replace(int dirfd, const std::string& from, const std::string& to, const std::filesystem::path& dir) {
  if (::renameat(dirfd, from.c_str(), dirfd, to.c_str()) != 0) throw_errno("rename", dir / to, errno);
}

bool rename_noreplace(int dirfd, const std::string& from, const std::string& to, const std::filesystem::path& dir) {
  if (::renameat2(dirfd, from.c_str(), dirfd, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  int err = errno;
  if (err == EEXIST) return false;
  if (err != EINVAL && err != ENOSYS && err != EOPNOTSUPP) throw_errno("rename", dir / to, err);

  // The filesystem has no RENAME_NOREPLACE: link(2) also refuses an existing target.
  if (::linkat(dirfd, from.c_str(), dirfd, to.c_str(), 0) == 0) {
    unlink_quietly(dirfd, from);
    return true;
  }
  err = errno;
  if (err == EEXIST) return false;
  if (err != EPERM && err != EOPNOTSUPP) throw_errno("link", dir / to, err);

  // No hard links either: check, then rename (two racing writers may both "create").
  struct stat st {};
  if (::fstatat(dirfd, to.c_str(), &st, 0) == 0) return false;
  if (errno != ENOENT) throw_errno("stat", dir / to, errno);
  rename_replace(dirfd, from, to, dir);
  return true;
}

void unlink_quietly(int dirfd, const std::string& name) noexcept { ::unlinkat(dirfd, name.c_str(), 0); }

std::optional<std::vector<std::uint8_t>> read_file(const std::filesystem::path& path,
                                                   std::optional<std::uint64_t> expected_size) {
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw_errno("open", path, errno);
  }
  UniqueFd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("stat", path, errno);
  if (!S_ISREG(st.st_mode)) throw_errno("open", path, EIO);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (expected_size && size != *expected_size) {
    throw StorageError("integrity: " + path.string() + " has " + std::to_string(size) + " bytes, metadata says " +
                           std::to_string(*expected_size),
                       EIO);
  }

  std::vector<std::uint8_t> bytes(size);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path, errno);
    }
    if (n == 0) throw StorageError("integrity: " + path.string() + " shrank while being read", EIO);
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

std::optional<std::uint64_t> file_size(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw_errno("stat", path, errno);
  }
  if (!S_ISREG(st.st_mode)) throw_errno("stat", path, EIO);
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace pixelmill::storage::detail
