// TIFF Orientation 1..8: ../shared/testdata holds no TIFF tagged other than 1, so the
// files are made here with libtiff from a real photo, the way the EXIF examples are
// made: the raw pixels of orientation N are the upright photo with N's operations
// undone, so every N must come out equal to orientation 1. Several sample layouts,
// byte orders, BigTIFF and tiles, since OpenCV reaches libtiff through different paths
// for them.
#include <doctest/doctest.h>

#include <tiffio.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "imaging_testdata.hpp"
#include "pixelmill/imaging/geometry.hpp"
#include "pixelmill/imaging/transform.hpp"
#include "temp_dir.hpp"

using namespace pixelmill::imaging;
using pixelmill::test::decode;
using pixelmill::test::load;

namespace {

struct Layout {
  const char* name;
  int type;          // of the pixels written: CV_8UC1, CV_8UC3, CV_8UC4, CV_16UC3
  const char* mode;  // TIFFOpen mode: "w" little-endian, "wb" big-endian, "w8" BigTIFF
  bool tiled;
};

// (Tiled 8-bit grey and RGB are left out: OpenCV 4.6's imdecode cannot read them at
// all, whatever the orientation.)
constexpr Layout kLayouts[] = {
    {"8-bit RGB, strips", CV_8UC3, "w", false},
    {"8-bit RGB, big-endian", CV_8UC3, "wb", false},
    {"8-bit RGB, BigTIFF", CV_8UC3, "w8", false},
    {"8-bit grey", CV_8UC1, "w", false},
    {"16-bit RGB, big-endian", CV_16UC3, "wb", false},
    {"16-bit RGB, tiled", CV_16UC3, "w", true},
    {"8-bit RGBA, tiled", CV_8UC4, "w", true},
};

constexpr int kTile = 16;

// The upright photo, 240x160, in the layout's pixel type (RGBA gets a gradient alpha).
cv::Mat upright_photo(int type) {
  cv::Mat photo = decode(load("exif-orientation-examples/Landscape_1.jpg"), cv::IMREAD_COLOR);
  REQUIRE(!photo.empty());
  cv::resize(photo, photo, cv::Size(240, 160), 0, 0, cv::INTER_AREA);
  if (CV_MAT_CN(type) == 1) cv::cvtColor(photo, photo, cv::COLOR_BGR2GRAY);
  if (CV_MAT_CN(type) == 4) {
    cv::Mat alpha(photo.size(), CV_8UC1);
    for (int y = 0; y < alpha.rows; ++y) alpha.row(y).setTo(64 + y);
    cv::cvtColor(photo, photo, cv::COLOR_BGR2BGRA);
    cv::insertChannel(alpha, photo, 3);
  }
  if (CV_MAT_DEPTH(type) == CV_16U) photo.convertTo(photo, CV_16U, 257.0);
  return photo;
}

// The raw pixels a file tagged `orientation` holds for `upright`: orientation N means
// "rotate clockwise, then mirror" (geometry's OrientOps); undo it in reverse order.
cv::Mat unorient(const cv::Mat& upright, int orientation) {
  const OrientOps ops = orient_ops(orientation);
  cv::Mat raw = upright.clone();
  if (ops.flip_horizontal) cv::flip(upright, raw, 1);
  switch (ops.rotate_cw) {
    case 90: cv::rotate(raw.clone(), raw, cv::ROTATE_90_COUNTERCLOCKWISE); break;
    case 180: cv::rotate(raw.clone(), raw, cv::ROTATE_180); break;
    case 270: cv::rotate(raw.clone(), raw, cv::ROTATE_90_CLOCKWISE); break;
    default: break;
  }
  return raw;
}

void write_pixels(TIFF* tif, const cv::Mat& rgb, bool tiled) {
  if (!tiled) {
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, 16);
    for (int y = 0; y < rgb.rows; ++y) REQUIRE(TIFFWriteScanline(tif, const_cast<uchar*>(rgb.ptr(y)), y, 0) == 1);
    return;
  }
  TIFFSetField(tif, TIFFTAG_TILEWIDTH, kTile);
  TIFFSetField(tif, TIFFTAG_TILELENGTH, kTile);
  const std::size_t pixel = rgb.elemSize();
  std::vector<uchar> tile(kTile * kTile * pixel);
  for (int y = 0; y < rgb.rows; y += kTile) {
    for (int x = 0; x < rgb.cols; x += kTile) {
      std::fill(tile.begin(), tile.end(), 0);
      for (int r = 0; r < kTile && y + r < rgb.rows; ++r) {
        const int columns = std::min(kTile, rgb.cols - x);
        std::memcpy(&tile[r * kTile * pixel], rgb.ptr(y + r) + x * pixel, columns * pixel);
      }
      REQUIRE(TIFFWriteTile(tif, tile.data(), x, y, 0, 0) > 0);
    }
  }
}

// `raw` (BGR, BGRA or grey) as an uncompressed TIFF tagged `orientation`.
std::vector<std::uint8_t> make_tiff(const cv::Mat& raw, int orientation, const Layout& layout) {
  const pixelmill::test::TempDir dir("pixelmill-tiff");
  const std::string path = (dir.path() / "o.tiff").string();
  TIFF* tif = TIFFOpen(path.c_str(), layout.mode);
  REQUIRE(tif != nullptr);
  cv::Mat rgb;  // a new Mat: converting in `raw`'s buffer would change the caller's pixels
  if (raw.channels() == 3) {
    cv::cvtColor(raw, rgb, cv::COLOR_BGR2RGB);
  } else if (raw.channels() == 4) {
    cv::cvtColor(raw, rgb, cv::COLOR_BGRA2RGBA);
  } else {
    rgb = raw;
  }
  TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, rgb.cols);
  TIFFSetField(tif, TIFFTAG_IMAGELENGTH, rgb.rows);
  TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, rgb.channels());
  TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, static_cast<int>(rgb.elemSize1() * 8));
  TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, rgb.channels() == 1 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB);
  TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(tif, TIFFTAG_ORIENTATION, orientation);
  if (rgb.channels() == 4) {
    const std::uint16_t extra = EXTRASAMPLE_UNASSALPHA;
    TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &extra);
  }
  write_pixels(tif, rgb, layout.tiled);
  TIFFClose(tif);
  return pixelmill::test::read_bytes(path);
}

TransformOptions half_width_png(bool orient = true) {
  TransformOptions o;
  o.width = 120;  // 2:1, so resizing before or after orienting gives the same pixels
  o.format = OutputFormat::png;
  o.orient = orient;
  return o;
}

}  // namespace

TEST_CASE("TIFF: every Orientation tag comes out upright and equal to orientation 1") {
  for (const Layout& layout : kLayouts) {
    CAPTURE(std::string(layout.name));
    const cv::Mat upright = upright_photo(layout.type);
    const Transformed reference = transform(make_tiff(upright, 1, layout), half_width_png(), SourceLimits{});
    REQUIRE(reference.width == 120);
    REQUIRE(reference.height == 80);
    const cv::Mat expected = decode(reference);
    for (int n = 2; n <= 8; ++n) {
      CAPTURE(n);
      const auto tiff = make_tiff(unorient(upright, n), n, layout);
      REQUIRE(probe(std::span<const std::uint8_t>(tiff)).orientation == n);
      const Transformed t = transform(tiff, half_width_png(), SourceLimits{});
      CHECK(t.width == 120);
      CHECK(t.height == 80);
      const cv::Mat out = decode(t);
      REQUIRE(out.size() == expected.size());
      REQUIRE(out.type() == expected.type());
      CHECK(cv::norm(out, expected, cv::NORM_INF) <= 1);
    }
  }
}

TEST_CASE("TIFF: orient=false keeps the raw pixels for every Orientation tag") {
  const Layout& layout = kLayouts[0];
  const cv::Mat upright = upright_photo(layout.type);
  for (int n = 1; n <= 8; ++n) {
    CAPTURE(n);
    const cv::Mat raw = unorient(upright, n);
    const Transformed t = transform(make_tiff(raw, n, layout), half_width_png(false), SourceLimits{});
    cv::Mat expected;
    cv::resize(raw, expected, cv::Size(120, raw.rows * 120 / raw.cols), 0, 0, cv::INTER_AREA);
    CHECK(t.width == expected.cols);
    CHECK(t.height == expected.rows);  // 180 for 5..8: the raw image is portrait
    const cv::Mat out = decode(t);
    REQUIRE(out.size() == expected.size());
    CHECK(cv::norm(out, expected, cv::NORM_INF) <= 1);
  }
}
