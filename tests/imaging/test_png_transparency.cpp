// PNG transparency from a tRNS chunk survives transform(): grey colour keys (which
// OpenCV's decoder drops, so transform() rebuilds the alpha), and palette and RGB keys
// (which OpenCV keeps). The reference alpha comes from libpng itself: its simplified
// read API expands tRNS to alpha for every colour type.
#include <doctest/doctest.h>

#include <png.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <csetjmp>
#include <cstdint>
#include <string>
#include <vector>

#include "imaging_testdata.hpp"
#include "pixelmill/imaging/transform.hpp"

using namespace pixelmill::imaging;
using pixelmill::test::decode;
using pixelmill::test::load;

namespace {

// Every PNG of ../shared/testdata with a tRNS chunk; the first two are grey.
constexpr const char* kTrnsFiles[] = {
    "pngsuite/tbbn0g04.png", "pngsuite/tbwn0g16.png",  "pngsuite/tbbn2c16.png", "pngsuite/tbgn2c16.png",
    "pngsuite/tbrn2c08.png", "pngsuite/tbbn3p08.png",  "pngsuite/tbgn3p08.png", "pngsuite/tbwn3p08.png",
    "pngsuite/tbyn3p08.png", "pngsuite/tm3n3p02.png",  "pngsuite/tp1n3p08.png", "pillow/tRNS_null_1x1.png",
    "sharp/full-transparent.png", "sharp/Flag_of_the_Netherlands-alpha.png",
};

void append_bytes(png_structp png, png_bytep data, size_t size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + size);
}

// A grey PNG (colour type 0, no alpha channel) of `depth` bits whose tRNS chunk makes
// the sample value `key` transparent. `samples` is row-major, each < 2^depth.
std::vector<std::uint8_t> grey_png(int width, int height, int depth, const std::vector<int>& samples, int key,
                                   bool interlaced) {
  std::vector<std::vector<png_byte>> rows(height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int v = samples[y * width + x];
      if (depth == 16) rows[y].push_back(static_cast<png_byte>(v >> 8));
      rows[y].push_back(static_cast<png_byte>(v & 0xff));  // < 8 bits: one per byte, packed by libpng
    }
  }
  std::vector<png_bytep> row_pointers;
  for (auto& row : rows) row_pointers.push_back(row.data());

  std::vector<std::uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  REQUIRE(info != nullptr);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    FAIL("libpng could not write the test PNG");
  }
  png_set_write_fn(png, &out, append_bytes, nullptr);
  png_set_IHDR(png, info, width, height, depth, PNG_COLOR_TYPE_GRAY,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_color_16 colour_key{};
  colour_key.gray = static_cast<png_uint_16>(key);
  png_set_tRNS(png, info, nullptr, 0, &colour_key);
  png_write_info(png, info);
  if (depth < 8) png_set_packing(png);
  png_write_image(png, row_pointers.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// The alpha channel libpng's simplified API reads (tRNS expanded for every colour type).
cv::Mat libpng_alpha(const std::vector<std::uint8_t>& bytes) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0);
  image.format = PNG_FORMAT_BGRA;
  std::vector<std::uint8_t> pixels(PNG_IMAGE_SIZE(image));
  REQUIRE(png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr) != 0);
  const cv::Mat bgra(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC4, pixels.data());
  cv::Mat alpha;
  cv::extractChannel(bgra, alpha, 3);
  return alpha;
}

cv::Mat alpha_of(const cv::Mat& bgra) {
  REQUIRE(bgra.type() == CV_8UC4);
  cv::Mat alpha;
  cv::extractChannel(bgra, alpha, 3);
  return alpha;
}

TransformOptions png_output() {
  TransformOptions o;
  o.format = OutputFormat::png;
  return o;
}

}  // namespace

TEST_CASE("tRNS: a grey colour key makes exactly the keyed pixels transparent, at every bit depth") {
  constexpr int width = 13, height = 7;
  for (const int depth : {1, 2, 4, 8, 16}) {
    for (const bool interlaced : {false, true}) {
      CAPTURE(depth);
      CAPTURE(interlaced);
      const int max = (1 << depth) - 1;
      std::vector<int> samples;
      for (int i = 0; i < width * height; ++i) samples.push_back(static_cast<int>((i * 4099L) % (max + 1)));
      const int key = samples[5];
      const auto bytes = grey_png(width, height, depth, samples, key, interlaced);
      CHECK(probe(std::span<const std::uint8_t>(bytes)).transparent_grey == key);

      const Transformed t = transform(bytes, png_output(), SourceLimits{});
      CHECK(t.channels == 4);
      const cv::Mat out = decode(t);
      REQUIRE(out.type() == CV_8UC4);
      REQUIRE(out.size() == cv::Size(width, height));
      int keyed = 0;
      for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
          const int sample = samples[y * width + x];
          const cv::Vec4b px = out.at<cv::Vec4b>(y, x);
          const int grey = (sample * 255 + max / 2) / max;  // libpng's replication; /257 rounded for 16
          CHECK(px[3] == (sample == key ? 0 : 255));
          CHECK(px[0] == grey);
          CHECK(px[1] == grey);
          CHECK(px[2] == grey);
          keyed += sample == key;
        }
      }
      CHECK(keyed > 0);
      CHECK(keyed < width * height);
    }
  }
}

TEST_CASE("tRNS: every testdata PNG with a tRNS chunk keeps libpng's alpha in PNG output") {
  for (const char* file : kTrnsFiles) {
    CAPTURE(file);
    const auto bytes = load(file);
    const cv::Mat expected = libpng_alpha(bytes);
    const cv::Mat out = decode(transform(bytes, png_output(), SourceLimits{}));
    REQUIRE(out.size() == expected.size());
    CHECK(cv::norm(alpha_of(out), expected, cv::NORM_INF) == 0);
  }
  // The test files really hold transparent pixels (grey ones included).
  CHECK(cv::countNonZero(libpng_alpha(load("pngsuite/tbbn0g04.png")) == 0) > 0);
  CHECK(cv::countNonZero(libpng_alpha(load("pngsuite/tbwn0g16.png")) == 0) > 0);
}

TEST_CASE("tRNS: a grey key stays transparent when resized and is flattened for JPEG") {
  // tbbn0g04: 32x32 grey 4-bit, key 15 (white). Resized 2:1, a 2x2 block that is all
  // key is fully transparent, one with no key pixel fully opaque.
  const auto bytes = load("pngsuite/tbbn0g04.png");
  const cv::Mat keyed = libpng_alpha(bytes) == 0;
  TransformOptions o = png_output();
  o.width = 16;
  const cv::Mat small = alpha_of(decode(transform(bytes, o, SourceLimits{})));
  REQUIRE(small.size() == cv::Size(16, 16));
  int clear = 0, solid = 0;
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) {
      const int keys = cv::countNonZero(keyed(cv::Rect(2 * x, 2 * y, 2, 2)));
      if (keys == 4) {
        CHECK(small.at<std::uint8_t>(y, x) == 0);
        ++clear;
      } else if (keys == 0) {
        CHECK(small.at<std::uint8_t>(y, x) == 255);
        ++solid;
      }
    }
  }
  CHECK(clear > 0);
  CHECK(solid > 0);

  // JPEG: keyed pixels (away from 8x8-block smearing) take the background colour.
  o = TransformOptions{};
  o.format = OutputFormat::jpeg;
  o.quality = 100;
  o.background = *parse_colour("ff0000");
  const cv::Mat flat = decode(transform(bytes, o, SourceLimits{}));
  REQUIRE(flat.type() == CV_8UC3);
  cv::Mat inner_keys;
  cv::erode(keyed, inner_keys, cv::Mat::ones(5, 5, CV_8U));
  REQUIRE(cv::countNonZero(inner_keys) > 0);
  for (int y = 0; y < flat.rows; ++y) {
    for (int x = 0; x < flat.cols; ++x) {
      if (inner_keys.at<std::uint8_t>(y, x) == 0) continue;
      const cv::Vec3b px = flat.at<cv::Vec3b>(y, x);  // BGR
      CHECK(px[2] > 200);
      CHECK(px[1] < 60);
      CHECK(px[0] < 60);
    }
  }
}
