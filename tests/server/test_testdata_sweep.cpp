// Every file in ../shared/testdata through POST /v1/resize?w=200 on a real server:
// decodable ones come back as an image of exactly the expected size, the rest get a
// documented 4xx; never a 5xx, a crash or a hang, and memory stays bounded.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <opencv2/imgcodecs.hpp>

#include "pixelmill/imaging/image_error.hpp"
#include "pixelmill/imaging/probe.hpp"
#include "server_fixture.hpp"

using namespace pixelmill;
using test::http::status;
using test::http::verb;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  double pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// The width a w=200 resize must give, or 0 when the server must refuse the file.
unsigned expected_width(const std::string& bytes) {
  try {
    const auto probed = imaging::probe(std::string_view(bytes));
    imaging::check_limits(probed, {});
    return std::min(200u, probed.oriented_width());  // never enlarged
  } catch (const imaging::ImageError&) {
    return 0;
  }
}

}  // namespace

TEST_CASE("every testdata file: an exact-size image or a documented 4xx, never a 5xx") {
  auto settings = test::test_settings();
  settings.runtime.cpu_queue_length = 8;
  test::ServerFixture f(settings);
  auto client = std::make_unique<test::HttpClient>(f.service.port());
  const std::filesystem::path root = std::string(PIXELMILL_SOURCE_DIR) + "/../shared/testdata";
  int images = 0, refused = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().lexically_relative(root).string();
    const std::string bytes = read_file(entry.path());
    if (bytes.empty()) continue;
    INFO(name);
    auto res = client->request(verb::post, "/v1/resize?w=200&format=png", bytes,
                              {{"Content-Type", "application/octet-stream"}});
    const unsigned code = static_cast<unsigned>(res.result());
    REQUIRE(code < 500);
    if (res.result() == status::ok) {
      ++images;
      const cv::Mat out = cv::imdecode(
          cv::Mat(1, static_cast<int>(res.body().size()), CV_8U, res.body().data()), cv::IMREAD_UNCHANGED);
      REQUIRE_FALSE(out.empty());
      CHECK(static_cast<unsigned>(out.cols) == expected_width(bytes));
    } else {
      ++refused;
      CHECK((code == 415 || code == 422));
      CHECK(res[test::http::field::content_type] == "application/problem+json");
    }
    if (!res.keep_alive()) client = std::make_unique<test::HttpClient>(f.service.port());
  }
  CHECK(images > 250);
  CHECK(refused > 40);
  // Bombs are refused from their headers: nothing near their declared size is ever
  // allocated (a 64250x64250 RGB image alone would be 12 GB).
  CHECK(resident_bytes() < 1.5e9);
}
