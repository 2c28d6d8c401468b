// The `kernel` option: parsing, and that each kernel really resamples differently while
// no kernel keeps the old behaviour (INTER_AREA to shrink, INTER_CUBIC to enlarge).
#include <doctest/doctest.h>

#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "imaging_testdata.hpp"
#include "pixelmill/imaging/kernel.hpp"
#include "pixelmill/imaging/transform.hpp"

using namespace pixelmill::imaging;
using pixelmill::test::decode;
using pixelmill::test::load;

namespace {

constexpr Kernel kKernels[] = {Kernel::nearest, Kernel::linear, Kernel::cubic, Kernel::area, Kernel::lanczos};

TransformOptions png_width(int width, std::optional<Kernel> kernel) {
  TransformOptions o;
  o.width = width;
  o.enlarge = true;
  o.format = OutputFormat::png;  // lossless: outputs compare exactly
  o.kernel = kernel;
  return o;
}

}  // namespace

TEST_CASE("kernel: parse_kernel and to_string") {
  for (const Kernel k : kKernels) CHECK(parse_kernel(to_string(k)) == k);
  CHECK(to_string(Kernel::nearest) == "nearest");
  CHECK(to_string(Kernel::linear) == "linear");
  CHECK(to_string(Kernel::cubic) == "cubic");
  CHECK(to_string(Kernel::area) == "area");
  CHECK(to_string(Kernel::lanczos) == "lanczos");
  for (const char* bad : {"", "Nearest", "lanczos3", "bicubic", "auto", " area", "linear "}) {
    CHECK_MESSAGE(!parse_kernel(bad).has_value(), bad);
  }
}

TEST_CASE("kernel: every kernel gives the exact size and its own pixels") {
  const auto source = load("pngsuite/basn2c08.png");  // 32x32 RGB gradients
  for (const int width : {100, 20}) {                 // enlarge, shrink
    CAPTURE(width);
    std::vector<std::vector<std::uint8_t>> outputs;
    for (const Kernel k : kKernels) {
      CAPTURE(to_string(k));
      const Transformed t = transform(source, png_width(width, k), SourceLimits{});
      CHECK(t.width == width);
      CHECK(t.height == width);
      const cv::Mat out = decode(t);
      REQUIRE(out.size() == cv::Size(width, width));
      outputs.push_back(t.bytes);
    }
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      for (std::size_t j = i + 1; j < outputs.size(); ++j) {
        CAPTURE(i);
        CAPTURE(j);
        CHECK(outputs[i] != outputs[j]);
      }
    }
  }
}

TEST_CASE("kernel: none means area to shrink and cubic to enlarge, as before") {
  const auto source = load("pngsuite/basn2c08.png");
  const auto bytes = [&](int width, std::optional<Kernel> k) {
    return transform(source, png_width(width, k), SourceLimits{}).bytes;
  };
  CHECK(bytes(100, std::nullopt) == bytes(100, Kernel::cubic));
  CHECK(bytes(100, std::nullopt) != bytes(100, Kernel::area));
  CHECK(bytes(20, std::nullopt) == bytes(20, Kernel::area));
  CHECK(bytes(20, std::nullopt) != bytes(20, Kernel::cubic));
  // A real photo through JPEG shrink-on-load, too.
  const auto photo = load("photos/umang_by_Abhishek_Mudgal.jpg");
  TransformOptions o;
  o.width = 300;
  const auto default_bytes = transform(photo, o, SourceLimits{}).bytes;
  o.kernel = Kernel::area;
  CHECK(transform(photo, o, SourceLimits{}).bytes == default_bytes);
}

TEST_CASE("kernel: nearest repeats source pixels exactly on an integer enlargement") {
  const auto source = load("pngsuite/basn2c08.png");
  const cv::Mat in = decode(source);
  const cv::Mat out = decode(transform(source, png_width(96, Kernel::nearest), SourceLimits{}));
  REQUIRE(out.size() == cv::Size(96, 96));
  for (int y = 0; y < 96; ++y) {
    for (int x = 0; x < 96; ++x) REQUIRE(out.at<cv::Vec3b>(y, x) == in.at<cv::Vec3b>(y / 3, x / 3));
  }
}
