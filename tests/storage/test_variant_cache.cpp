// The variant cache: hits and misses, single-flight computation (results and
// exceptions), LRU eviction under a byte budget, oversized entries, the disabled
// cache, removal per source, and the index rebuilt from disk on reopen.
#include <doctest/doctest.h>

#include "posix_io.hpp"  // host_temp_prefix()

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <latch>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pixelmill/storage/image_id.hpp"
#include "pixelmill/storage/variant_cache.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace pixelmill::storage;
using pixelmill::test::TempDir;

namespace {

std::string hex_of(char c) { return std::string(64, c); }

ImageId id_of(char c) { return *parse_image_id(hex_of(c)); }

Variant make_variant(std::size_t size, std::uint8_t fill, std::string format = "png") {
  return {std::vector<std::uint8_t>(size, fill), std::move(format)};
}

// A compute function that counts its calls.
struct Counter {
  std::atomic<int> calls{0};
  std::function<Variant()> returning(Variant v) {
    return [this, v] {
      ++calls;
      return v;
    };
  }
};

fs::path variant_file(const fs::path& root, const ImageId& source, const std::string& key, const std::string& fmt) {
  return root / "variants" / source.str() / (key + "." + fmt);
}

}  // namespace

TEST_CASE("miss, then hit without computing again") {
  TempDir dir;
  VariantCache cache(dir.path(), 1 << 20);
  Counter counter;
  const auto src = id_of('a');
  const auto key = hex_of('1');

  bool hit = true;
  const auto first = cache.get_or_compute(src, key, counter.returning(make_variant(100, 7, "webp")), &hit);
  CHECK_FALSE(hit);
  CHECK(first.bytes == std::vector<std::uint8_t>(100, 7));
  CHECK(first.format == "webp");
  CHECK(fs::file_size(variant_file(dir.path(), src, key, "webp")) == 100);

  const auto second = cache.get_or_compute(src, key, counter.returning(make_variant(5, 9)), &hit);
  CHECK(hit);
  CHECK(second.bytes == first.bytes);
  CHECK(second.format == "webp");
  CHECK(counter.calls == 1);
  cache.get_or_compute(src, key, counter.returning(make_variant(5, 9)));  // hit may be null

  const auto s = cache.stats();
  CHECK(s.hits == 2);
  CHECK(s.misses == 1);
  CHECK(s.bytes == 100);
  CHECK(s.entries == 1);
}

TEST_CASE("concurrent callers of one key compute it once") {
  TempDir dir;
  VariantCache cache(dir.path(), 1 << 20);
  std::atomic<int> calls{0};
  const auto compute = [&] {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return make_variant(1000, 42, "jpeg");
  };

  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<Variant> results(kThreads);
  std::vector<char> hits(kThreads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      bool hit = false;
      results[i] = cache.get_or_compute(id_of('b'), hex_of('2'), compute, &hit);
      hits[i] = hit;
    });
  }
  for (auto& t : threads) t.join();

  CHECK(calls == 1);
  int misses = 0;
  for (int i = 0; i < kThreads; ++i) {
    CHECK(results[i].bytes == std::vector<std::uint8_t>(1000, 42));
    CHECK(results[i].format == "jpeg");
    misses += hits[i] ? 0 : 1;
  }
  CHECK(misses == 1);
  CHECK(cache.stats().misses == 1);
  CHECK(cache.stats().hits == kThreads - 1);
}

TEST_CASE("a failing computation reaches every waiter and caches nothing") {
  TempDir dir;
  VariantCache cache(dir.path(), 1 << 20);
  std::atomic<int> calls{0};
  const auto failing = [&]() -> Variant {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    throw std::runtime_error("decode failed");
  };

  constexpr int kThreads = 6;
  std::latch start(kThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      try {
        (void)cache.get_or_compute(id_of('c'), hex_of('3'), failing);
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "decode failed") ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();

  CHECK(calls == 1);
  CHECK(errors == kThreads);
  CHECK(cache.stats().entries == 0);
  CHECK(cache.stats().bytes == 0);
  CHECK_FALSE(fs::exists(variant_file(dir.path(), id_of('c'), hex_of('3'), "png")));

  Counter counter;
  bool hit = true;
  const auto v = cache.get_or_compute(id_of('c'), hex_of('3'), counter.returning(make_variant(10, 1)), &hit);
  CHECK_FALSE(hit);
  CHECK(counter.calls == 1);
  CHECK(v.bytes.size() == 10);
  CHECK(cache.stats().entries == 1);
}

TEST_CASE("least recently used entries are evicted beyond max_bytes") {
  TempDir dir;
  const std::uint64_t size = 1000;
  VariantCache cache(dir.path(), size * 5 / 2);
  Counter counter;
  const auto src = id_of('d');
  const auto a = hex_of('a'), b = hex_of('b'), c = hex_of('c');

  cache.get_or_compute(src, a, counter.returning(make_variant(size, 1)));
  cache.get_or_compute(src, b, counter.returning(make_variant(size, 2)));
  bool hit = false;
  cache.get_or_compute(src, a, counter.returning(make_variant(size, 1)), &hit);  // touch A
  CHECK(hit);
  cache.get_or_compute(src, c, counter.returning(make_variant(size, 3)));
  CHECK(counter.calls == 3);

  CHECK(fs::exists(variant_file(dir.path(), src, a, "png")));
  CHECK_FALSE(fs::exists(variant_file(dir.path(), src, b, "png")));
  CHECK(fs::exists(variant_file(dir.path(), src, c, "png")));
  const auto s = cache.stats();
  CHECK(s.entries == 2);
  CHECK(s.bytes == 2 * size);
  CHECK(s.bytes <= cache.max_bytes());

  cache.get_or_compute(src, a, counter.returning(make_variant(size, 1)), &hit);
  CHECK(hit);
  cache.get_or_compute(src, b, counter.returning(make_variant(size, 2)), &hit);
  CHECK_FALSE(hit);  // evicted: computed again
  CHECK(counter.calls == 4);
}

TEST_CASE("an entry larger than max_bytes is returned but not stored") {
  TempDir dir;
  VariantCache cache(dir.path(), 100);
  Counter counter;
  bool hit = true;
  const auto v = cache.get_or_compute(id_of('e'), hex_of('4'), counter.returning(make_variant(101, 5)), &hit);
  CHECK_FALSE(hit);
  CHECK(v.bytes.size() == 101);
  CHECK(cache.stats().entries == 0);
  CHECK(cache.stats().bytes == 0);
  CHECK_FALSE(fs::exists(variant_file(dir.path(), id_of('e'), hex_of('4'), "png")));
  cache.get_or_compute(id_of('e'), hex_of('4'), counter.returning(make_variant(101, 5)), &hit);
  CHECK_FALSE(hit);
  CHECK(counter.calls == 2);

  // Exactly max_bytes fits.
  cache.get_or_compute(id_of('e'), hex_of('5'), counter.returning(make_variant(100, 5)));
  CHECK(cache.stats().entries == 1);
}

TEST_CASE("max_bytes = 0 disables the cache") {
  TempDir dir;
  VariantCache cache(dir.path(), 0);
  Counter counter;
  for (int i = 0; i < 3; ++i) {
    bool hit = true;
    const auto v = cache.get_or_compute(id_of('f'), hex_of('6'), counter.returning(make_variant(10, 1)), &hit);
    CHECK_FALSE(hit);
    CHECK(v.bytes.size() == 10);
  }
  CHECK(counter.calls == 3);
  CHECK(cache.stats().entries == 0);
  CHECK(cache.stats().misses == 3);
  CHECK_FALSE(fs::exists(dir.path() / "variants" / id_of('f').str()));
}

TEST_CASE("remove_variants_of removes only that source's variants") {
  TempDir dir;
  VariantCache cache(dir.path(), 1 << 20);
  Counter counter;
  const auto gone = id_of('1'), kept = id_of('2');
  cache.get_or_compute(gone, hex_of('a'), counter.returning(make_variant(10, 1)));
  cache.get_or_compute(gone, hex_of('b'), counter.returning(make_variant(20, 1, "jpeg")));
  cache.get_or_compute(kept, hex_of('c'), counter.returning(make_variant(30, 1)));

  cache.remove_variants_of(gone);
  CHECK_FALSE(fs::exists(dir.path() / "variants" / gone.str()));
  CHECK(fs::exists(variant_file(dir.path(), kept, hex_of('c'), "png")));
  CHECK(cache.stats().entries == 1);
  CHECK(cache.stats().bytes == 30);
  cache.remove_variants_of(gone);  // nothing left: no error

  bool hit = false;
  cache.get_or_compute(kept, hex_of('c'), counter.returning(make_variant(30, 1)), &hit);
  CHECK(hit);
  cache.get_or_compute(gone, hex_of('a'), counter.returning(make_variant(10, 1)), &hit);
  CHECK_FALSE(hit);
}

TEST_CASE("reopening rebuilds the index from disk and drops this host's temp files") {
  TempDir dir;
  const auto src = id_of('9');
  {
    VariantCache cache(dir.path(), 1 << 20);
    Counter counter;
    cache.get_or_compute(src, hex_of('a'), counter.returning(make_variant(10, 1, "jpeg")));
    cache.get_or_compute(src, hex_of('b'), counter.returning(make_variant(20, 2, "webp")));
  }
  const auto folder = dir.path() / "variants" / src.str();
  const auto leftover = folder / (pixelmill::storage::detail::host_temp_prefix() + "0123456789abcdef");
  const auto in_flight = folder / ".tmp-0000beef-0123456789abcdef";  // another replica's write
  std::ofstream(leftover) << "partial";
  std::ofstream(in_flight) << "partial";
  REQUIRE(fs::exists(leftover));

  VariantCache cache(dir.path(), 1 << 20);
  CHECK_FALSE(fs::exists(leftover));
  CHECK(fs::exists(in_flight));
  CHECK(cache.stats().entries == 2);
  CHECK(cache.stats().bytes == 30);

  Counter counter;
  bool hit = false;
  const auto v = cache.get_or_compute(src, hex_of('b'), counter.returning(make_variant(1, 0)), &hit);
  CHECK(hit);
  CHECK(counter.calls == 0);
  CHECK(v.bytes == std::vector<std::uint8_t>(20, 2));
  CHECK(v.format == "webp");
}

TEST_CASE("reopening with a smaller budget evicts the oldest files") {
  TempDir dir;
  const auto src = id_of('8');
  {
    VariantCache cache(dir.path(), 1 << 20);
    Counter counter;
    cache.get_or_compute(src, hex_of('a'), counter.returning(make_variant(100, 1)));
    cache.get_or_compute(src, hex_of('b'), counter.returning(make_variant(100, 2)));
  }
  // mtime order is the initial LRU order: make A clearly the older one.
  fs::last_write_time(variant_file(dir.path(), src, hex_of('a'), "png"),
                      fs::file_time_type::clock::now() - std::chrono::hours(1));
  VariantCache cache(dir.path(), 150);
  CHECK(cache.stats().entries == 1);
  CHECK_FALSE(fs::exists(variant_file(dir.path(), src, hex_of('a'), "png")));
  CHECK(fs::exists(variant_file(dir.path(), src, hex_of('b'), "png")));
}

TEST_CASE("invalid keys and formats are rejected") {
  TempDir dir;
  VariantCache cache(dir.path(), 1 << 20);
  Counter counter;
  for (const std::string& bad : {std::string(""), hex_of('A'), std::string(63, 'a'), std::string(65, 'a'),
                                "../" + std::string(61, 'a'), std::string(63, 'a') + "/"}) {
    CHECK_THROWS_AS(cache.get_or_compute(id_of('7'), bad, counter.returning(make_variant(1, 1))),
                    std::invalid_argument);
  }
  CHECK(counter.calls == 0);
  CHECK_THROWS_AS(cache.get_or_compute(id_of('7'), hex_of('7'), counter.returning(make_variant(1, 1, "../x"))),
                  std::invalid_argument);
  CHECK(cache.stats().entries == 0);
}
