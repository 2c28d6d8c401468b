// The original-image store: ids (SHA-256, strict parsing), the on-disk layout, atomic
// idempotent puts (threads and processes), integrity checks on read, crash-leftover
// cleanup, write failures that leave nothing behind, and the stored-originals count.
#include <doctest/doctest.h>

#include "posix_io.hpp"  // host_temp_prefix(): which leftovers are this host's

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <latch>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pixelmill/storage/image_id.hpp"
#include "pixelmill/storage/image_store.hpp"
#include "pixelmill/storage/storage_error.hpp"
#include "pixelmill/storage/stored_meta.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace pixelmill::storage;
using pixelmill::test::TempDir;
using pixelmill::test::temp_files_under;

namespace {

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(gen());
  return v;
}

StoredMeta meta_for(const std::vector<std::uint8_t>& bytes, std::string format = "png") {
  return StoredMeta{std::move(format), 3, 2, bytes.size()};
}

fs::path shard_of(const fs::path& root, const ImageId& id) {
  return root / "originals" / id.str().substr(0, 2) / id.str().substr(2, 2);
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("image id: SHA-256 of the content as lowercase hex") {
  CHECK(compute_image_id(bytes_of("abc")).str() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(compute_image_id({}).str() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(compute_image_id(bytes_of("abc")) == compute_image_id(bytes_of("abc")));
  CHECK(compute_image_id(bytes_of("abc")) != compute_image_id(bytes_of("abd")));
}

TEST_CASE("image id: hashed in chunks it is the same digest; the callback can stop it") {
  std::vector<std::uint8_t> bytes(std::size_t{3} << 20 | 5);  // 12 whole 256 KiB chunks and a tail
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i % 251);
  const char* expected = "b01669d77761c4dfdfc8fb927821087bcf5c9ef1f917c4f1f8504e529f19edab";  // Python hashlib
  CHECK(compute_image_id(bytes).str() == expected);
  int calls = 0;
  CHECK(compute_image_id(bytes, [&] { return ++calls > 0; })->str() == expected);
  CHECK(calls == 12);  // between the 13 chunks
  calls = 0;
  CHECK_FALSE(compute_image_id(bytes, [&] { return ++calls < 3; }).has_value());
  CHECK(calls == 3);
}

TEST_CASE("parse_image_id accepts exactly 64 lowercase hex characters") {
  const std::string valid = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const auto parsed = parse_image_id(valid);
  REQUIRE(parsed.has_value());
  CHECK(parsed->str() == valid);
  CHECK(*parsed == compute_image_id(bytes_of("abc")));
  CHECK(parse_image_id(std::string(64, '0')).has_value());
  CHECK(parse_image_id(std::string(64, 'f')).has_value());

  CHECK_FALSE(parse_image_id(valid.substr(0, 63)).has_value());
  CHECK_FALSE(parse_image_id(valid + "0").has_value());
  CHECK_FALSE(parse_image_id("").has_value());
  std::string upper = valid;
  upper[0] = 'B';
  CHECK_FALSE(parse_image_id(upper).has_value());
  CHECK_FALSE(parse_image_id("../" + valid.substr(3)).has_value());
  CHECK_FALSE(parse_image_id(valid.substr(0, 10) + "/" + valid.substr(11)).has_value());
  CHECK_FALSE(parse_image_id(valid.substr(0, 63) + "g").has_value());
  CHECK_FALSE(parse_image_id(valid.substr(0, 63) + std::string(1, '\0')).has_value());
  CHECK_FALSE(parse_image_id(" " + valid.substr(1)).has_value());
}

TEST_CASE("StorageError: errno and no_space for ENOSPC and EDQUOT") {
  CHECK(StorageError("write x", ENOSPC).no_space());
  CHECK(StorageError("write x", EDQUOT).no_space());
  CHECK_FALSE(StorageError("write x", EIO).no_space());
  CHECK(StorageError("write x", EACCES).errno_value() == EACCES);
  CHECK(std::string(StorageError("write x", EIO).what()) == "write x");
}

TEST_CASE("put then get: byte-identical with its metadata") {
  TempDir dir;
  ImageStore store(dir.path());
  auto bytes = random_bytes(100'000, 1);
  bytes[0] = 0x00;
  bytes[1] = 0xff;
  const StoredMeta meta{"jpeg", 640, 480, bytes.size()};

  const PutResult put = store.put(bytes, meta);
  CHECK(put.created);
  CHECK(put.id == compute_image_id(bytes));
  CHECK(store.exists(put.id));

  const auto got = store.get(put.id);
  REQUIRE(got.has_value());
  CHECK(got->bytes == bytes);
  CHECK(got->meta == meta);
  CHECK(store.meta(put.id) == std::optional<StoredMeta>(meta));

  const auto absent = compute_image_id(bytes_of("never stored"));
  CHECK_FALSE(store.exists(absent));
  CHECK_FALSE(store.get(absent).has_value());
  CHECK_FALSE(store.meta(absent).has_value());
}

TEST_CASE("put rejects metadata whose size is not the size of the bytes") {
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = bytes_of("twelve bytes");
  CHECK_THROWS_AS(store.put(bytes, StoredMeta{"png", 1, 1, 11}), std::invalid_argument);
  CHECK(store.count() == 0);
}

TEST_CASE("layout: root/originals/ab/cd/<id> and <id>.json, nothing else") {
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = bytes_of("layout test bytes");
  const PutResult put = store.put(bytes, StoredMeta{"webp", 7, 5, bytes.size()});
  const std::string id = put.id.str();

  const fs::path shard = dir.path() / "originals" / id.substr(0, 2) / id.substr(2, 2);
  CHECK(fs::is_regular_file(shard / id));
  CHECK(fs::is_regular_file(shard / (id + ".json")));
  CHECK(names_in(shard) == std::vector<std::string>{id, id + ".json"});
  CHECK(names_in(dir.path()) == std::vector<std::string>{"originals"});
  CHECK(fs::file_size(shard / id) == bytes.size());
  CHECK(read_text(shard / (id + ".json")) ==
        R"({"format":"webp","width":7,"height":5,"bytes":)" + std::to_string(bytes.size()) + "}");
  CHECK((stat_of(shard / id).st_mode & 0777) == (0644 & ~[] {
          const mode_t m = ::umask(0);
          ::umask(m);
          return m;
        }()));
}

TEST_CASE("put of the same bytes again: created=false and nothing rewritten") {
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = random_bytes(5000, 2);
  const PutResult first = store.put(bytes, meta_for(bytes));
  REQUIRE(first.created);
  const fs::path shard = shard_of(dir.path(), first.id);
  const struct stat image_before = stat_of(shard / first.id.str());
  const struct stat meta_before = stat_of(shard / (first.id.str() + ".json"));

  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a rewrite would move mtime
  const PutResult second = store.put(bytes, meta_for(bytes));
  CHECK_FALSE(second.created);
  CHECK(second.id == first.id);

  const struct stat image_after = stat_of(shard / first.id.str());
  const struct stat meta_after = stat_of(shard / (first.id.str() + ".json"));
  CHECK(image_after.st_ino == image_before.st_ino);
  CHECK(image_after.st_mtim.tv_sec == image_before.st_mtim.tv_sec);
  CHECK(image_after.st_mtim.tv_nsec == image_before.st_mtim.tv_nsec);
  CHECK(meta_after.st_ino == meta_before.st_ino);
  CHECK(meta_after.st_mtim.tv_nsec == meta_before.st_mtim.tv_nsec);
  CHECK(store.count() == 1);
  CHECK(names_in(shard).size() == 2);
}

TEST_CASE("remove: the image and its metadata go; a second remove is false") {
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = bytes_of("to be removed");
  const ImageId id = store.put(bytes, meta_for(bytes)).id;
  const fs::path shard = shard_of(dir.path(), id);

  CHECK(store.remove(id));
  CHECK_FALSE(store.get(id).has_value());
  CHECK_FALSE(store.meta(id).has_value());
  CHECK_FALSE(store.exists(id));
  CHECK_FALSE(fs::exists(shard / id.str()));
  CHECK_FALSE(fs::exists(shard / (id.str() + ".json")));
  CHECK_FALSE(store.remove(id));
  CHECK_FALSE(store.remove(compute_image_id(bytes_of("never stored"))));

  // And it can be stored again.
  CHECK(store.put(bytes, meta_for(bytes)).created);
  CHECK(store.get(id).has_value());
}

TEST_CASE("cleanup_temp_files removes this host's .tmp-* leftovers and stale ones, nothing else") {
  TempDir dir;
  const auto bytes = bytes_of("survives cleanup");
  ImageId id = compute_image_id(bytes);
  {
    ImageStore store(dir.path());
    id = store.put(bytes, meta_for(bytes)).id;
  }
  const fs::path shard = shard_of(dir.path(), id);
  const std::string ours = pixelmill::storage::detail::host_temp_prefix();
  std::ofstream(shard / (ours + "x")) << "partial";
  std::ofstream(shard / (ours + "0123456789abcdef")) << "partial";
  std::ofstream(dir.path() / (ours + "y")) << "partial";
  std::ofstream(dir.path() / "originals" / (ours + "z")) << "";
  // Another replica's, on a shared volume: in flight when fresh, abandoned when old.
  std::ofstream(shard / ".tmp-0000beef-inflight") << "partial";
  std::ofstream(shard / ".tmp-0000beef-stale") << "partial";
  fs::last_write_time(shard / ".tmp-0000beef-stale", fs::file_time_type::clock::now() - std::chrono::hours(2));
  std::ofstream(dir.path() / "keep.txt") << "not ours to delete";
  std::ofstream(shard / "tmp-not-a-temp") << "no leading dot";

  ImageStore store(dir.path());
  CHECK(store.cleanup_temp_files() == 5);
  CHECK(temp_files_under(dir.path()) == 1);
  CHECK(fs::exists(shard / ".tmp-0000beef-inflight"));
  CHECK(fs::exists(dir.path() / "keep.txt"));
  CHECK(fs::exists(shard / "tmp-not-a-temp"));
  const auto got = store.get(id);
  REQUIRE(got.has_value());
  CHECK(got->bytes == bytes);
  CHECK(store.cleanup_temp_files() == 0);
}

TEST_CASE("8 threads putting the same bytes: one file, one metadata file, one creator") {
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = random_bytes(1 << 20, 3);
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> created{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      try {
        if (store.put(bytes, meta_for(bytes)).created) ++created;
      } catch (...) {
        ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();

  const ImageId id = compute_image_id(bytes);
  CHECK(failed == 0);
  CHECK(created == 1);
  CHECK(store.count() == 1);
  CHECK(names_in(shard_of(dir.path(), id)) == std::vector<std::string>{id.str(), id.str() + ".json"});
  CHECK(temp_files_under(dir.path()) == 0);
  const auto got = store.get(id);
  REQUIRE(got.has_value());
  CHECK(got->bytes == bytes);
}

TEST_CASE("4 processes putting the same bytes: one complete file, exactly one creator") {
  // Separate processes race on rename itself (threads of one store are serialised by
  // its per-id lock): RENAME_NOREPLACE lets exactly one of them win.
  TempDir dir;
  const auto bytes = random_bytes(4 << 20, 4);
  constexpr int kProcesses = 4;
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(pipe_fds[1]);
      char go;
      int code = 3;
      if (::read(pipe_fds[0], &go, 1) == 1) {  // all start together when the pipe closes
        try {
          ImageStore store(dir.path());
          code = store.put(bytes, meta_for(bytes)).created ? 1 : 0;
        } catch (...) {
          code = 2;
        }
      }
      ::_exit(code);
    }
    children.push_back(pid);
  }
  ::close(pipe_fds[0]);
  const char go[kProcesses] = {};
  CHECK(::write(pipe_fds[1], go, kProcesses) == kProcesses);
  ::close(pipe_fds[1]);

  int creators = 0;
  int losers = 0;
  for (const pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 1) ++creators;
    if (WEXITSTATUS(status) == 0) ++losers;
  }
  CHECK(creators == 1);
  CHECK(losers == kProcesses - 1);

  const ImageId id = compute_image_id(bytes);
  CHECK(names_in(shard_of(dir.path(), id)) == std::vector<std::string>{id.str(), id.str() + ".json"});
  CHECK(temp_files_under(dir.path()) == 0);
  ImageStore store(dir.path());
  CHECK(store.count() == 1);
  const auto got = store.get(id);
  REQUIRE(got.has_value());
  CHECK(got->bytes == bytes);
}

TEST_CASE("a write that fails mid-file (file size limit) throws and leaves nothing") {
  // RLIMIT_FSIZE binds root too: the temp file is created, part of it written, then
  // write(2) fails with EFBIG. Nothing may be printed while the limit is lowered.
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = random_bytes(64 * 1024, 5);

  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit low = saved;
  low.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &low) == 0);
  std::optional<StorageError> error;
  try {
    (void)store.put(bytes, meta_for(bytes));
  } catch (const StorageError& e) {
    error = e;
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);

  REQUIRE(error.has_value());
  CHECK(error->errno_value() == EFBIG);
  CHECK_FALSE(error->no_space());
  const ImageId id = compute_image_id(bytes);
  CHECK(temp_files_under(dir.path()) == 0);
  CHECK(names_in(shard_of(dir.path(), id)).empty());
  CHECK_FALSE(store.exists(id));
  CHECK_FALSE(store.get(id).has_value());
  CHECK(store.count() == 0);

  // Once the condition clears, the same put succeeds.
  CHECK(store.put(bytes, meta_for(bytes)).created);
  CHECK(store.get(id)->bytes == bytes);
}

TEST_CASE("a shard folder that cannot be created (a file in its place) throws and leaves nothing") {
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = bytes_of("blocked shard");
  const ImageId id = compute_image_id(bytes);
  const fs::path level1 = dir.path() / "originals" / id.str().substr(0, 2);
  std::ofstream(level1) << "a file where a folder should be";

  CHECK_THROWS_AS(store.put(bytes, meta_for(bytes)), StorageError);
  try {
    (void)store.put(bytes, meta_for(bytes));
  } catch (const StorageError& e) {
    CHECK(e.errno_value() == ENOTDIR);
    CHECK_FALSE(e.no_space());
  }
  CHECK(temp_files_under(dir.path()) == 0);
  CHECK_FALSE(store.exists(id));
  CHECK_FALSE(store.get(id).has_value());
  CHECK_FALSE(store.remove(id));
  CHECK(store.count() == 0);
}

TEST_CASE("a read-only shard folder: put throws and leaves nothing (skipped as root)") {
  if (::geteuid() == 0) {
    MESSAGE("running as root: permissions do not bind; covered by the file-size-limit case");
    return;
  }
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = bytes_of("read-only shard");
  const ImageId id = compute_image_id(bytes);
  const fs::path shard = shard_of(dir.path(), id);
  fs::create_directories(shard);
  fs::permissions(shard, fs::perms::owner_read | fs::perms::owner_exec);

  std::optional<StorageError> error;
  try {
    (void)store.put(bytes, meta_for(bytes));
  } catch (const StorageError& e) {
    error = e;
  }
  fs::permissions(shard, fs::perms::owner_all);
  REQUIRE(error.has_value());
  CHECK(error->errno_value() == EACCES);
  CHECK(temp_files_under(dir.path()) == 0);
  CHECK(names_in(shard).empty());
  CHECK(store.count() == 0);
}

TEST_CASE("integrity on read: a truncated original or missing/garbled metadata is an error") {
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = random_bytes(10'000, 6);
  const ImageId id = store.put(bytes, meta_for(bytes)).id;
  const fs::path image = shard_of(dir.path(), id) / id.str();
  const fs::path json = shard_of(dir.path(), id) / (id.str() + ".json");

  SUBCASE("truncated") {
    fs::resize_file(image, bytes.size() - 1);
    CHECK_THROWS_AS((void)store.get(id), StorageError);
    CHECK_THROWS_AS((void)store.meta(id), StorageError);
    try {
      (void)store.get(id);
    } catch (const StorageError& e) {
      CHECK(e.errno_value() == EIO);
    }
  }
  SUBCASE("grown") {
    std::ofstream(image, std::ios::app) << "x";
    CHECK_THROWS_AS((void)store.get(id), StorageError);
  }
  SUBCASE("metadata missing") {
    fs::remove(json);
    CHECK_THROWS_AS((void)store.get(id), StorageError);
    CHECK_THROWS_AS((void)store.meta(id), StorageError);
  }
  SUBCASE("metadata garbled") {
    std::ofstream(json, std::ios::trunc) << R"({"format":"png","width":"wide"})";
    CHECK_THROWS_AS((void)store.get(id), StorageError);
  }
  SUBCASE("an orphaned metadata file (crash during remove) reads as absent") {
    fs::remove(image);
    CHECK_FALSE(store.get(id).has_value());
    CHECK_FALSE(store.meta(id).has_value());
    CHECK_FALSE(store.exists(id));
  }
}

TEST_CASE("count tracks puts and removes and survives reopening the store") {
  TempDir dir;
  std::vector<ImageId> ids;
  {
    ImageStore store(dir.path());
    CHECK(store.count() == 0);
    for (std::uint32_t i = 0; i < 5; ++i) {
      const auto bytes = random_bytes(100 + i, 100 + i);
      ids.push_back(store.put(bytes, meta_for(bytes)).id);
    }
    CHECK(store.count() == 5);
    const auto again = random_bytes(100, 100);
    CHECK_FALSE(store.put(again, meta_for(again)).created);
    CHECK(store.count() == 5);
    CHECK(store.remove(ids[0]));
    CHECK(store.remove(ids[1]));
    CHECK_FALSE(store.remove(ids[1]));
    CHECK(store.count() == 3);
  }
  // Leftovers that are not originals do not count.
  const fs::path shard = shard_of(dir.path(), ids[2]);
  std::ofstream(shard / ".tmp-leftover") << "partial";
  std::ofstream(shard_of(dir.path(), ids[0]) / (ids[0].str() + ".json")) << "{}";  // orphan metadata

  ImageStore reopened(dir.path());
  CHECK(reopened.count() == 3);
  CHECK(reopened.remove(ids[2]));
  CHECK(reopened.count() == 2);
  const auto fresh = bytes_of("one more");
  CHECK(reopened.put(fresh, meta_for(fresh)).created);
  CHECK(reopened.count() == 3);
}

TEST_CASE("concurrent put, get and remove of one id: get sees all or nothing, never an error") {
  TempDir dir;
  ImageStore store(dir.path());
  const auto bytes = random_bytes(64 * 1024, 7);
  const ImageId id = compute_image_id(bytes);
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::atomic<int> partial{0};
  std::atomic<int> seen{0};

  std::thread writer([&] {
    for (int i = 0; i < 150; ++i) {
      try {
        (void)store.put(bytes, meta_for(bytes));
        (void)store.remove(id);
      } catch (...) {
        ++errors;
      }
    }
    stop = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop) {
        try {
          if (const auto got = store.get(id)) {
            ++seen;
            if (got->bytes != bytes) ++partial;
          }
          (void)store.meta(id);
        } catch (...) {
          ++errors;
        }
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();

  CHECK(errors == 0);
  CHECK(partial == 0);
  MESSAGE("complete reads while racing: " << seen.load());
  CHECK(store.count() == 0);
  CHECK(temp_files_under(dir.path()) == 0);
}

TEST_CASE("cleanup_temp_files while this store's puts run: no put loses its temp file") {
  TempDir dir;
  ImageStore store(dir.path());
  constexpr int kWriters = 3;
  constexpr int kPerWriter = 20;
  std::atomic<int> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        const auto bytes = random_bytes(32 * 1024, static_cast<std::uint32_t>(1000 + w * kPerWriter + i));
        try {
          if (!store.put(bytes, meta_for(bytes)).created) ++errors;
        } catch (...) {
          ++errors;
        }
      }
    });
  }
  std::thread cleaner([&] {
    while (!stop) {
      try {
        (void)store.cleanup_temp_files();
      } catch (...) {
        ++errors;
      }
    }
  });
  for (auto& t : writers) t.join();
  stop = true;
  cleaner.join();

  CHECK(errors == 0);
  CHECK(store.count() == kWriters * kPerWriter);
  CHECK(temp_files_under(dir.path()) == 0);
  CHECK(ImageStore(dir.path()).count() == kWriters * kPerWriter);
}
