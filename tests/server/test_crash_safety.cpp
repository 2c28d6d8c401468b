// Data safety: SIGKILL the real binary in the middle of a stream of uploads,
// restart it on the same store, and check every id it acknowledged is complete and
// byte-identical, and that no temp file survives the restart.
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "binary_service.hpp"
#include "http_client.hpp"
#include "server_fixture.hpp"
#include "wait_until.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
using test::http::status;
using test::http::verb;

namespace {

// A valid BMP with `seed`-dependent pixels: every upload is distinct, so every one
// is a real write, and each is large enough (≈ 0.75 MB) to be caught mid-write.
std::string make_bmp(std::uint32_t seed) {
  const std::uint32_t width = 512, height = 512, row = width * 3, size = 54 + row * height;
  std::string bmp(size, '\0');
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bmp[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  bmp[0] = 'B', bmp[1] = 'M';
  put32(2, size), put32(10, 54), put32(14, 40), put32(18, width), put32(22, height);
  bmp[26] = 1, bmp[28] = 24;
  put32(34, row * height);
  std::mt19937 random(seed);
  for (std::size_t i = 54; i < bmp.size(); ++i) bmp[i] = static_cast<char>(random());
  return bmp;
}

}  // namespace

TEST_CASE("SIGKILL during uploads loses nothing acknowledged and leaves nothing partial") {
  const auto store = test::unique_temp_dir("pixelmill-crash");
  const std::vector<std::string> flags = {"--listen", "127.0.0.1:0", "--data-dir", store.string(),
                                          "--cpu-threads", "2", "--io-threads", "1"};
  std::map<std::string, std::string> acknowledged;  // id -> bytes
  {
    auto service = test::start_binary(flags);
    std::atomic<bool> stop{false};
    std::atomic<int> stored{0};
    std::thread uploader([&] {
      try {
        test::HttpClient client(service.port);
        // Bounded: the child's log pipe is only read at the end (64 KiB buffer).
        for (std::uint32_t seed = 1; !stop && seed <= 200; ++seed) {
          std::string bytes = make_bmp(seed);
          auto res = client.request(verb::post, "/v1/images", bytes, {{"Content-Type", "image/bmp"}});
          if (res.result() != status::created) break;
          acknowledged[std::string(test::json_body(res).at("id").as_string())] = std::move(bytes);
          ++stored;
        }
      } catch (const std::exception&) {
        // The server died under us: expected.
      }
    });
    test::wait_until([&] { return stored >= 5; }, 30s);
    std::this_thread::sleep_for(20ms);  // most likely in the middle of the next write
    service.process.signal(SIGKILL);
    stop = true;
    uploader.join();
  }
  REQUIRE(acknowledged.size() >= 3);

  auto restarted = test::start_binary(flags);
  test::HttpClient client(restarted.port);
  for (const auto& [id, bytes] : acknowledged) {
    auto res = client.get("/v1/images/" + id);
    REQUIRE(res.result() == status::ok);
    CHECK(res.body() == bytes);
  }
  CHECK(test::temp_files_under(store) == 0);
  restarted.process.signal(SIGTERM);
  CHECK(restarted.process.wait(10s) == 0);
  std::filesystem::remove_all(store);
}

TEST_CASE("concurrent identical uploads store one file") {
  auto settings = test::test_settings();
  settings.runtime.cpu_queue_length = 16;  // all eight are accepted
  test::ServerFixture f(settings);
  const std::string bytes = make_bmp(42);
  std::vector<std::future<test::StringResponse>> uploads;
  for (int i = 0; i < 8; ++i) {
    uploads.push_back(std::async(std::launch::async, [&] {
      return f.client().request(verb::post, "/v1/images", bytes, {{"Content-Type", "image/bmp"}});
    }));
  }
  int created = 0, existing = 0;
  std::string id;
  for (auto& upload : uploads) {
    auto res = upload.get();
    created += res.result() == status::created;
    existing += res.result() == status::ok;
    id = std::string(test::json_body(res).at("id").as_string());
  }
  CHECK(created == 1);
  CHECK(existing == 7);
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(f.data_dir)) {
    files += entry.is_regular_file() && entry.path().filename() == id;
  }
  CHECK(files == 1);
  CHECK(test::value(f.metrics(), "pixelmill_images_stored") == 1);
}
