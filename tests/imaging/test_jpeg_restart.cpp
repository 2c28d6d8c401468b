// Splitting a JPEG at its restart markers (imaging/src/jpeg_restart.hpp): the bands,
// decoded into one set of Y'CbCr planes (jpeg_yuv.hpp, what transform does), must equal
// the whole file's planes, bit for bit, at 1/1 and at every shrink-on-load scale. The
// files are made here: cv::imencode for 4:2:0 and gray (OpenCV 4.6 has no
// IMWRITE_JPEG_SAMPLING_FACTOR), libjpeg directly for 4:4:4, 4:2:2, 4:4:0 and the
// refused kinds (progressive, arithmetic, multi-scan).
#include <doctest/doctest.h>

#include <cstdio>  // before jpeglib.h
#include <jpeglib.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "imaging_testdata.hpp"
#include "jpeg_samples.hpp"
#include "jpeg_restart.hpp"
#include "jpeg_yuv.hpp"

using pixelmill::imaging::JpegBand;
using pixelmill::imaging::restart_layout;
using pixelmill::imaging::RestartLayout;
using pixelmill::imaging::split_at_restarts;
using pixelmill::test::cv_encode;
using pixelmill::test::decode;
using pixelmill::test::lib_encode;
using pixelmill::test::picture;
using pixelmill::test::load;
using Bytes = std::vector<std::uint8_t>;

namespace {

// Marker codes of the segments up to SOS, "D8 E0 ... DA".
std::string header_markers(const Bytes& jpeg) {
  const auto hex = [](int code) {
    char text[4];
    std::snprintf(text, sizeof text, "%02X", code);
    return std::string(text);
  };
  std::string codes = hex(jpeg.at(1));
  std::size_t p = 2;
  while (p + 4 <= jpeg.size() && jpeg[p] == 0xFF) {
    codes += ' ';
    codes += hex(jpeg[p + 1]);
    if (jpeg[p + 1] == 0xDA) break;
    p += 2 + static_cast<std::size_t>((jpeg[p + 2] << 8) | jpeg[p + 3]);
  }
  return codes;
}

// The bands must tile the image: contiguous, whole MCU rows but the last.
void check_tiling(const RestartLayout& layout, const std::vector<JpegBand>& bands, int asked) {
  const int unit = std::max(1, layout.restart_interval / layout.mcus_per_row);
  const int units = (layout.mcu_rows + unit - 1) / unit;
  REQUIRE(static_cast<int>(bands.size()) == std::min(asked, units));
  int row = 0;
  for (std::size_t i = 0; i < bands.size(); ++i) {
    CHECK(bands[i].first_row == row);
    CHECK(bands[i].rows > 0);
    if (i + 1 < bands.size()) CHECK(bands[i].rows % (unit * layout.mcu_height) == 0);
    // Nearly equal: in whole restart units, the sizes differ by at most one.
    if (i + 1 < bands.size()) {
      const int a = bands[i].rows / (unit * layout.mcu_height);
      CHECK(a >= units / static_cast<int>(bands.size()));
      CHECK(a <= units / static_cast<int>(bands.size()) + 1);
    }
    row += bands[i].rows;
  }
  CHECK(row == layout.height);
}

// Each band is itself a splittable JPEG of the band's height.
int band_height(const JpegBand& band, const RestartLayout& whole) {
  const auto own = restart_layout(band.jpeg);
  REQUIRE(own.has_value());
  CHECK(own->width == whole.width);
  CHECK(own->restart_interval == whole.restart_interval);
  CHECK(own->mcu_height == whole.mcu_height);
  return own->height;
}

int scale_of(int flags) {
  switch (flags & ~cv::IMREAD_IGNORE_ORIENTATION) {
    case cv::IMREAD_REDUCED_COLOR_2: return 2;
    case cv::IMREAD_REDUCED_COLOR_4: return 4;
    case cv::IMREAD_REDUCED_COLOR_8: return 8;
    default: return 1;
  }
}

int ceil_div(int a, int b) { return (a + b - 1) / b; }

// The bands decoded with `flags` and stacked; every band's decoded size is checked.
cv::Mat stacked(const std::vector<JpegBand>& bands, const RestartLayout& layout, int flags) {
  const int s = scale_of(flags);
  std::vector<cv::Mat> parts;
  for (const JpegBand& band : bands) {
    const cv::Mat m = decode(band.jpeg, flags);
    REQUIRE(!m.empty());
    REQUIRE(m.rows == ceil_div(band_height(band, layout), s));
    parts.push_back(m);
  }
  cv::Mat out;
  cv::vconcat(parts, out);
  return out;
}

// Rows where two same-size images differ.
std::vector<int> differing_rows(const cv::Mat& a, const cv::Mat& b) {
  std::vector<int> rows;
  for (int y = 0; y < a.rows; ++y)
    if (cv::norm(a.row(y), b.row(y), cv::NORM_INF) != 0) rows.push_back(y);
  return rows;
}

// Whether libjpeg-turbo upsamples the chroma vertically ("fancy", across rows) when it
// decodes these planes to BGR at 1/scale: each component's DCT size doubles from
// 8/scale while that divides evenly (jdmaster.c), and the upsampler does not run at
// 1/8 (jdsample.c).
bool bgr_upsamples_vertically(const RestartLayout& l, int scale) {
  if (l.components < 3 || scale == 8) return false;
  const int v_max = *std::max_element(l.v_sampling.begin(), l.v_sampling.begin() + l.components);
  const int h_max = *std::max_element(l.h_sampling.begin(), l.h_sampling.begin() + l.components);
  const int min_size = 8 / scale;
  for (int c = 0; c < l.components; ++c) {
    const int h = l.h_sampling[static_cast<std::size_t>(c)], v = l.v_sampling[static_cast<std::size_t>(c)];
    int size = min_size;
    while (size < 8 && (h_max * min_size) % (h * size * 2) == 0 && (v_max * min_size) % (v * size * 2) == 0)
      size *= 2;
    if (v_max * min_size > v * size) return true;
  }
  return false;
}

constexpr int kScales[] = {cv::IMREAD_COLOR, cv::IMREAD_REDUCED_COLOR_2, cv::IMREAD_REDUCED_COLOR_4,
                           cv::IMREAD_REDUCED_COLOR_8};

// The product's way (transform): Y'CbCr JPEGs, bands decoded into one set of planes on
// the pool, bit for bit the whole file's planes at every scale.
void check_planes_exact(const Bytes& jpeg, const pixelmill::imaging::JpegYuvHeader& header, int n) {
  namespace im = pixelmill::imaging;
  const auto layout = restart_layout(jpeg);
  REQUIRE(layout.has_value());
  const auto bands = split_at_restarts(jpeg, *layout, n);
  for (const int scale : {1, 2, 4, 8}) {
    CAPTURE(scale);
    const int w = ceil_div(header.width, scale), h = ceil_div(header.height, scale);
    im::YuvPlanes whole = im::allocate_yuv_planes(w, h, header.subsampling);
    im::YuvPlanes joined = im::allocate_yuv_planes(w, h, header.subsampling);
    REQUIRE(im::decode_yuv_into(jpeg, w, h, whole.view()));
    REQUIRE(im::decode_bands_into(bands, scale, w, header.subsampling, joined.view()));
    // The image's own samples; the Y plane's padding (to even sizes) is the
    // decoder's filler, which differs for a band that ends in a partial MCU row.
    const cv::Rect image(0, 0, w, h);
    CHECK(cv::norm(whole.y(image), joined.y(image), cv::NORM_INF) == 0);
    CHECK(cv::norm(whole.cb, joined.cb, cv::NORM_INF) == 0);
    CHECK(cv::norm(whole.cr, joined.cr, cv::NORM_INF) == 0);
  }
}

// Splits into 1, 2, 3 and 7 bands at every scale. Y'CbCr files: the planes are exact.
// Any file decoded to BGR: exact unless chroma is upsampled vertically, where exactly
// the two rows around each band edge differ — why transform decodes bands to planes.
void check_exact(const Bytes& jpeg, const RestartLayout& layout, bool full_grid = true) {
  const auto header = pixelmill::imaging::read_yuv_header(jpeg);
  for (const int n : {1, 2, 3, 7}) {
    if (!full_grid && n != 2 && n != 7) continue;
    CAPTURE(n);
    if (header) check_planes_exact(jpeg, *header, n);
    for (const int flags : kScales) {
      CAPTURE(flags);
      const cv::Mat whole = decode(jpeg, flags | cv::IMREAD_IGNORE_ORIENTATION);
      REQUIRE(!whole.empty());
      const auto bands = split_at_restarts(jpeg, layout, n);
      check_tiling(layout, bands, n);
      const cv::Mat joined = stacked(bands, layout, flags | cv::IMREAD_IGNORE_ORIENTATION);
      REQUIRE(joined.size() == whole.size());
      std::vector<int> expected;
      if (bgr_upsamples_vertically(layout, scale_of(flags))) {
        for (std::size_t i = 1; i < bands.size(); ++i) {
          expected.push_back(bands[i].first_row / scale_of(flags) - 1);
          expected.push_back(bands[i].first_row / scale_of(flags));
        }
      }
      CHECK(differing_rows(joined, whole) == expected);
    }
  }
}

int largest_proper_divisor(int n) {
  for (int d = n / 2; d > 1; --d)
    if (n % d == 0) return d;
  return 1;
}

struct Sampling {
  const char* name;
  int h, v;
};

}  // namespace

TEST_SUITE("jpeg_restart") {

TEST_CASE("bands decode bit-identical to the whole file: sizes x sampling x intervals") {
  const Sampling samplings[] = {{"4:4:4", 1, 1}, {"4:2:2", 2, 1}, {"4:2:0", 2, 2}, {"4:4:0", 1, 2}};
  const cv::Size sizes[] = {{1001, 777}, {64, 64}, {17, 33}, {3000, 2000}};
  int checked = 0;
  for (const cv::Size size : sizes) {
    const cv::Mat image = picture(size.width, size.height);
    const bool big = size.width == 3000;
    for (const Sampling& s : samplings) {
      if (big && !(s.h == 2 && s.v == 2)) continue;  // the big one (seconds): 4:2:0 only
      const int per_row = ceil_div(size.width, 8 * s.h);
      for (const int restart : {per_row, largest_proper_divisor(per_row), 2 * per_row}) {
        CAPTURE(size);
        CAPTURE(std::string(s.name));
        CAPTURE(restart);
        // 4:2:0 through OpenCV (what the service meets), the rest through libjpeg.
        const Bytes jpeg = (s.h == 2 && s.v == 2) ? cv_encode(image, restart)
                                                  : lib_encode(image, {s.h, s.v, restart});
        const auto layout = restart_layout(jpeg);
        REQUIRE(layout.has_value());
        CHECK(layout->width == size.width);
        CHECK(layout->height == size.height);
        CHECK(layout->mcu_width == 8 * s.h);
        CHECK(layout->mcu_height == 8 * s.v);
        CHECK(layout->mcus_per_row == per_row);
        CHECK(layout->mcu_rows == ceil_div(size.height, 8 * s.v));
        CHECK(layout->restart_interval == restart);
        CHECK(layout->components == 3);
        CHECK(layout->h_sampling == std::array<int, 4>{s.h, 1, 1, 0});
        CHECK(layout->v_sampling == std::array<int, 4>{s.v, 1, 1, 0});
        // libjpeg-turbo's rule, which check_exact verifies through OpenCV.
        CHECK(bgr_upsamples_vertically(*layout, 1) == (s.v == 2));
        CHECK(bgr_upsamples_vertically(*layout, 2) == (s.v == 2 && s.h == 1));
        CHECK(bgr_upsamples_vertically(*layout, 4) == (s.v == 2 && s.h == 1));
        CHECK_FALSE(bgr_upsamples_vertically(*layout, 8));
        const int mcus = per_row * layout->mcu_rows;
        CHECK(layout->restarts.size() == static_cast<std::size_t>(ceil_div(mcus, restart) - 1));
        check_exact(jpeg, *layout, !big);
        ++checked;
      }
    }
  }
  CHECK(checked == 3 * 4 * 3 + 3);
}

TEST_CASE("band rows and bytes are exact") {
  // 1001x777 4:2:0: 16x16 MCUs, 63 per row, 49 rows.
  const Bytes jpeg = cv_encode(picture(1001, 777), 63);
  const auto layout = restart_layout(jpeg);
  REQUIRE(layout.has_value());
  CHECK(layout->mcus_per_row == 63);
  CHECK(layout->mcu_rows == 49);
  CHECK(layout->restarts.size() == 48);

  const auto two = split_at_restarts(jpeg, *layout, 2);
  REQUIRE(two.size() == 2);
  CHECK(two[0].first_row == 0);
  CHECK(two[0].rows == 384);  // 24 MCU rows
  CHECK(two[1].first_row == 384);
  CHECK(two[1].rows == 393);  // 24 whole MCU rows and 9 of the last
  CHECK(band_height(two[0], *layout) == 384);
  CHECK(band_height(two[1], *layout) == 393);

  const auto three = split_at_restarts(jpeg, *layout, 3);
  REQUIRE(three.size() == 3);
  CHECK(three[0].first_row == 0);
  CHECK(three[0].rows == 256);
  CHECK(band_height(three[0], *layout) == 256);
  CHECK(three[1].first_row == 256);
  CHECK(three[1].rows == 256);
  CHECK(band_height(three[1], *layout) == 256);
  CHECK(three[2].first_row == 512);
  CHECK(three[2].rows == 265);
  CHECK(band_height(three[2], *layout) == 265);

  // The bands' entropy data is the file's, cut at the RST that ended MCU row 23 (which
  // belongs to neither band), with band 1's markers renumbered from RST0. OpenCV writes
  // no APPn but JFIF, so a band's header is the file's.
  const std::size_t header = layout->scan_start;
  CHECK(header_markers(jpeg) == "D8 E0 DB DB C0 C4 C4 C4 C4 DD DA");
  CHECK(header_markers(two[1].jpeg) == header_markers(jpeg));
  const std::size_t cut = layout->restarts[23];
  CHECK(two[0].jpeg.size() == header + (cut - layout->scan_start) + 2);
  CHECK(two[1].jpeg.size() == header + (layout->eoi_offset - (cut + 2)) + 2);
  CHECK(two[1].jpeg[header + (layout->restarts[24] - (cut + 2)) + 1] == 0xD0);
  CHECK(two[1].jpeg[header + (layout->restarts[31] - (cut + 2)) + 1] == 0xD7);
  CHECK(two[1].jpeg[header + (layout->restarts[32] - (cut + 2)) + 1] == 0xD0);
  CHECK(two[1].jpeg.end()[-2] == 0xFF);
  CHECK(two[1].jpeg.end()[-1] == 0xD9);

  // More bands than restart-aligned row groups: 17x33 4:2:0 has 3 MCU rows.
  const Bytes tiny = cv_encode(picture(17, 33), 2);
  const auto tiny_layout = restart_layout(tiny);
  REQUIRE(tiny_layout.has_value());
  const auto bands = split_at_restarts(tiny, *tiny_layout, 8);
  REQUIRE(bands.size() == 3);
  CHECK(bands[0].rows == 16);
  CHECK(bands[1].rows == 16);
  CHECK(bands[2].rows == 1);
  // Interval of 2 rows (2 x 63 MCUs): 25 groups of two MCU rows, the last one row.
  const Bytes pairs = cv_encode(picture(1001, 777), 126);
  const auto pairs_layout = restart_layout(pairs);
  REQUIRE(pairs_layout.has_value());
  CHECK(pairs_layout->restarts.size() == 24);
  const auto seven = split_at_restarts(pairs, *pairs_layout, 7);
  REQUIRE(seven.size() == 7);
  CHECK(seven[0].rows == 96);   // 3 groups
  CHECK(seven[1].rows == 128);  // 4 groups
  CHECK(band_height(seven[1], *pairs_layout) == 128);
  CHECK(seven[6].first_row == 21 * 32);
  CHECK(seven[6].rows == 777 - 21 * 32);

  CHECK(split_at_restarts(jpeg, *layout, 0).empty());
  CHECK(split_at_restarts(jpeg, *layout, -3).empty());
}

TEST_CASE("gray: one component, 8x8 MCUs whatever the sampling factor") {
  const Bytes jpeg = cv_encode(picture(1001, 777, 1), 63);  // 126 MCUs per row
  const auto layout = restart_layout(jpeg);
  REQUIRE(layout.has_value());
  CHECK(layout->mcu_width == 8);
  CHECK(layout->mcu_height == 8);
  CHECK(layout->mcus_per_row == 126);
  CHECK(layout->mcu_rows == 98);
  CHECK(layout->restarts.size() == 195);
  CHECK_FALSE(bgr_upsamples_vertically(*layout, 1));
  check_exact(jpeg, *layout);
}

TEST_CASE("refused: no DRI, progressive, arithmetic, multi-scan, unaligned interval") {
  const cv::Mat image = picture(1001, 777);
  CHECK_FALSE(restart_layout(cv_encode(image, 0)).has_value());
  CHECK_FALSE(restart_layout(cv_encode(image, 63, true)).has_value());
  CHECK_FALSE(restart_layout(lib_encode(image, {2, 2, 63, true})).has_value());
  CHECK_FALSE(restart_layout(lib_encode(image, {2, 2, 63, false, true})).has_value());
  CHECK_FALSE(restart_layout(lib_encode(image, {1, 1, 126, false, false, true})).has_value());
  // 63 MCUs per row: 10 and 100 put restarts mid-row.
  CHECK_FALSE(restart_layout(cv_encode(image, 10)).has_value());
  CHECK_FALSE(restart_layout(cv_encode(image, 100)).has_value());
  CHECK(restart_layout(cv_encode(image, 9)).has_value());
  CHECK(restart_layout(cv_encode(image, 189)).has_value());
  CHECK_FALSE(restart_layout(Bytes{}).has_value());
  CHECK_FALSE(restart_layout(Bytes{0xFF, 0xD8}).has_value());
  CHECK_FALSE(restart_layout(Bytes{0xFF, 0xD8, 0xFF, 0xD9}).has_value());
}

TEST_CASE("refused: broken scans and headers") {
  const Bytes good = cv_encode(picture(64, 64), 4);  // 4:2:0: 4 MCUs per row, 4 rows
  const auto layout = restart_layout(good);
  REQUIRE(layout.has_value());
  REQUIRE(layout->restarts.size() == 3);

  // Every truncation loses the EOI.
  for (std::size_t n = 0; n < good.size(); ++n)
    CHECK_FALSE(restart_layout(std::span(good).first(n)).has_value());
  // Trailing bytes after EOI are ignored.
  Bytes trailing = good;
  trailing.insert(trailing.end(), {0x00, 0xFF, 0x12, 0xFF});
  CHECK(restart_layout(trailing).has_value());

  Bytes swapped = good;  // RST1 where RST0 belongs
  swapped[layout->restarts[0] + 1] = 0xD1;
  CHECK_FALSE(restart_layout(swapped).has_value());
  Bytes missing = good;  // one marker removed: one too few
  missing.erase(missing.begin() + static_cast<std::ptrdiff_t>(layout->restarts[1]),
                missing.begin() + static_cast<std::ptrdiff_t>(layout->restarts[1] + 2));
  CHECK_FALSE(restart_layout(missing).has_value());
  Bytes extra = good;  // a fourth marker before EOI
  extra.insert(extra.begin() + static_cast<std::ptrdiff_t>(layout->eoi_offset), {0xFF, 0xD3});
  CHECK_FALSE(restart_layout(extra).has_value());
  Bytes dnl = good;  // height 0: a DNL marker would follow the scan
  dnl[layout->sof_offset + 5] = 0;
  dnl[layout->sof_offset + 6] = 0;
  CHECK_FALSE(restart_layout(dnl).has_value());
  Bytes second_scan = good;  // tables and a scan between the data and EOI
  second_scan.insert(second_scan.begin() + static_cast<std::ptrdiff_t>(layout->eoi_offset), {0xFF, 0xC4, 0x00, 0x02});
  CHECK_FALSE(restart_layout(second_scan).has_value());

  // Segment lengths 0 and 1 (shorter than the length field), and one past the end.
  const std::size_t dqt = layout->header_segments[2].offset;  // SOI, APP0 JFIF, DQT
  REQUIRE(good[dqt + 1] == 0xDB);
  for (const int length : {0, 1, 0xFFFF}) {
    Bytes bad = good;
    bad[dqt + 2] = static_cast<std::uint8_t>(length >> 8);
    bad[dqt + 3] = static_cast<std::uint8_t>(length & 0xFF);
    CHECK_FALSE(restart_layout(bad).has_value());
  }

  // Garbage after SOS: random bytes with plenty of 0xFF, then EOI. Whatever comes out,
  // splitting it must be safe.
  cv::RNG rng(7);
  for (int round = 0; round < 200; ++round) {
    Bytes bad(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(layout->scan_start));
    const int n = rng.uniform(0, 400);
    for (int i = 0; i < n; ++i) {
      const int r = rng.uniform(0, 16);
      bad.push_back(r < 3 ? 0xFF : r == 3 ? static_cast<std::uint8_t>(0xD0 + rng.uniform(0, 8))
                                          : static_cast<std::uint8_t>(rng.uniform(0, 256)));
    }
    bad.insert(bad.end(), {0xFF, 0xD9});
    if (const auto l = restart_layout(bad)) {
      CHECK(l->restarts.size() == 3);
      const auto bands = split_at_restarts(bad, *l, 3);
      check_tiling(*l, bands, 3);
    }
  }
}

TEST_CASE("mutated headers and scans: never a crash, any result is consistent") {
  const Bytes good = cv_encode(picture(48, 40), 3);  // 3 MCUs per row, 3 rows
  REQUIRE(restart_layout(good).has_value());
  int accepted = 0;
  for (std::size_t at = 0; at < good.size(); ++at) {
    for (const std::uint8_t value : {0x00, 0x01, 0x02, 0x08, 0x10, 0x3F, 0x40, 0x7F, 0xC0, 0xC2, 0xD0, 0xD9, 0xDA,
                                     0xFF}) {
      Bytes bad = good;
      bad[at] = value;
      const auto l = restart_layout(bad);
      if (!l) continue;
      ++accepted;
      for (const int n : {1, 2, 5}) {
        const auto bands = split_at_restarts(bad, *l, n);
        check_tiling(*l, bands, n);
        for (const JpegBand& band : bands) CHECK(restart_layout(band.jpeg).has_value());
      }
    }
  }
  CHECK(accepted > 0);
}

TEST_CASE("a layout that does not fit the bytes gives no bands") {
  const Bytes jpeg = cv_encode(picture(64, 64), 4);
  const auto layout = restart_layout(jpeg);
  REQUIRE(layout.has_value());
  auto bad = *layout;
  bad.restarts.pop_back();
  CHECK(split_at_restarts(jpeg, bad, 2).empty());
  bad = *layout;
  bad.eoi_offset = jpeg.size();
  CHECK(split_at_restarts(jpeg, bad, 2).empty());
  bad = *layout;
  bad.restart_interval = 3;
  CHECK(split_at_restarts(jpeg, bad, 2).empty());
  bad = *layout;
  bad.header_segments.back().size = jpeg.size();
  CHECK(split_at_restarts(jpeg, bad, 2).empty());
  CHECK(split_at_restarts(std::span(jpeg).first(jpeg.size() / 2), *layout, 2).empty());
}

TEST_CASE("real files from Pillow's test data") {
  // CMYK (4 components, Adobe APP14 decides the inversion), 100x100, DRI 13 = MCUs per row.
  const Bytes cmyk = load("pillow/pil_sample_cmyk.jpg");
  const auto cmyk_layout = restart_layout(cmyk);
  REQUIRE(cmyk_layout.has_value());
  CHECK(cmyk_layout->mcus_per_row == 13);
  CHECK(cmyk_layout->mcu_rows == 13);
  CHECK(cmyk_layout->restart_interval == 13);
  CHECK(cmyk_layout->restarts.size() == 12);
  const auto cmyk_bands = split_at_restarts(cmyk, *cmyk_layout, 2);
  REQUIRE(cmyk_bands.size() == 2);
  // EXIF, Photoshop IRB and XMP are dropped; Adobe stays.
  CHECK(header_markers(cmyk_bands[0].jpeg) == "D8 EE DB C0 DD C4 DA");
  check_exact(cmyk, *cmyk_layout);

  // EXIF with a broken IFD offset, 200x200 4:4:4, DRI 25 = MCUs per row.
  const Bytes exif = load("pillow/exif-ifd-offset.jpg");
  const auto exif_layout = restart_layout(exif);
  REQUIRE(exif_layout.has_value());
  CHECK(exif_layout->restart_interval == 25);
  CHECK(exif_layout->restarts.size() == 24);
  check_exact(exif, *exif_layout);

  // jpeg_ff00_header.jpg: 300x225 4:4:4, DRI 38 = MCUs per row.
  const Bytes ff00 = load("pillow/jpeg_ff00_header.jpg");
  const auto ff00_layout = restart_layout(ff00);
  REQUIRE(ff00_layout.has_value());
  CHECK(ff00_layout->mcus_per_row == 38);
  CHECK(ff00_layout->mcu_rows == 29);
  CHECK(ff00_layout->restarts.size() == 28);
  check_exact(ff00, *ff00_layout);

  // No DRI, progressive.
  CHECK_FALSE(restart_layout(load("pillow/hopper.jpg")).has_value());
  CHECK_FALSE(restart_layout(load("pillow/truncated_jpeg.jpg")).has_value());

  // Every file of the test data, whatever it is: no crash, consistent bands.
  int files = 0, splittable = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(pixelmill::test::kTestdata)) {
    if (!entry.is_regular_file() || entry.file_size() > (64 << 20)) continue;
    const Bytes bytes = pixelmill::test::read_bytes(entry.path());
    ++files;
    if (const auto l = restart_layout(bytes)) {
      ++splittable;
      check_tiling(*l, split_at_restarts(bytes, *l, 3), 3);
    }
  }
  CHECK(files > 0);
  MESSAGE(files << " test data files, " << splittable << " splittable at restarts");
}

}  // TEST_SUITE
