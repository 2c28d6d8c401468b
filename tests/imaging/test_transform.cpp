// transform(): decode -> orient -> resize -> crop/pad -> encode over real files of
// ../shared/testdata (never copied). Outputs are decoded again with OpenCV and checked
// for size, channels and pixels. Big photos are only ever resized to small outputs.
#include <algorithm>
#include <doctest/doctest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "imaging_testdata.hpp"
#include "pixelmill/imaging/image_error.hpp"
#include "pixelmill/imaging/transform.hpp"

using namespace pixelmill::imaging;

namespace {

using pixelmill::test::decode;
using pixelmill::test::load;
using pixelmill::test::mean_abs_diff;

constexpr const char* kPhoto = "photos/umang_by_Abhishek_Mudgal.jpg";  // 3840x2160 baseline

Transformed run(const std::string& relative, const TransformOptions& options) {
  const auto bytes = load(relative);
  return transform(bytes, options, SourceLimits{});
}

TransformOptions sized(std::optional<int> w, std::optional<int> h, Fit fit = Fit::cover) {
  TransformOptions o;
  o.width = w;
  o.height = h;
  o.fit = fit;
  return o;
}

bool starts_with(const std::vector<std::uint8_t>& bytes, std::initializer_list<int> magic,
                 std::size_t offset = 0) {
  if (bytes.size() < offset + magic.size()) return false;
  std::size_t i = offset;
  for (int m : magic) {
    if (bytes[i++] != static_cast<std::uint8_t>(m)) return false;
  }
  return true;
}
bool is_jpeg(const std::vector<std::uint8_t>& b) { return starts_with(b, {0xFF, 0xD8, 0xFF}); }
bool is_png(const std::vector<std::uint8_t>& b) {
  return starts_with(b, {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A});
}
bool is_webp(const std::vector<std::uint8_t>& b) {
  return starts_with(b, {'R', 'I', 'F', 'F'}) && starts_with(b, {'W', 'E', 'B', 'P'}, 8);
}

ImageError::Kind error_kind(const std::string& relative, const TransformOptions& options = {}) {
  try {
    (void)run(relative, options);
  } catch (const ImageError& e) {
    return e.kind();
  }
  FAIL("no ImageError for " << relative);
  return ImageError::Kind::malformed;
}

}  // namespace

TEST_CASE("transform: parse_output_format, to_string and mime_type") {
  CHECK(parse_output_format("jpeg") == OutputFormat::jpeg);
  CHECK(parse_output_format("jpg") == OutputFormat::jpeg);
  CHECK(parse_output_format("png") == OutputFormat::png);
  CHECK(parse_output_format("webp") == OutputFormat::webp);
  CHECK(parse_output_format("auto") == OutputFormat::auto_);
  for (const char* bad : {"", "JPEG", "gif", "tiff", "auto_", " png", "png "}) {
    CHECK_MESSAGE(!parse_output_format(bad).has_value(), bad);
  }
  CHECK(to_string(OutputFormat::jpeg) == "jpeg");
  CHECK(to_string(OutputFormat::png) == "png");
  CHECK(to_string(OutputFormat::webp) == "webp");
  CHECK(to_string(OutputFormat::auto_) == "auto");
  CHECK(mime_type(OutputFormat::jpeg) == "image/jpeg");
  CHECK(mime_type(OutputFormat::png) == "image/png");
  CHECK(mime_type(OutputFormat::webp) == "image/webp");
  CHECK(to_string(Stage::decode) == "decode");
}

TEST_CASE("transform: parse_colour") {
  CHECK(parse_colour("fff") == Rgba{255, 255, 255, 255});
  CHECK(parse_colour("#f00") == Rgba{255, 0, 0, 255});
  CHECK(parse_colour("1a2") == Rgba{0x11, 0xaa, 0x22, 255});
  CHECK(parse_colour("ffffff") == Rgba{255, 255, 255, 255});
  CHECK(parse_colour("#102030") == Rgba{0x10, 0x20, 0x30, 255});
  CHECK(parse_colour("AbCdEf") == Rgba{0xab, 0xcd, 0xef, 255});
  CHECK(parse_colour("ffffff80") == Rgba{255, 255, 255, 0x80});
  CHECK(parse_colour("#00000000") == Rgba{0, 0, 0, 0});
  CHECK(parse_colour("white") == Rgba{255, 255, 255, 255});
  CHECK(parse_colour("black") == Rgba{0, 0, 0, 255});
  CHECK(parse_colour("transparent") == Rgba{0, 0, 0, 0});
  for (const char* bad : {"", "#", "ff", "ffff", "fffff", "fffffff", "fffffffff", "ggg", "#ff00zz",
                          "##fff", "red", "White", " fff", "0xfff"}) {
    CHECK_MESSAGE(!parse_colour(bad).has_value(), bad);
  }
}

TEST_CASE("transform: resolve_output_format (auto)") {
  CHECK(resolve_output_format(OutputFormat::auto_, true, false) == OutputFormat::webp);
  CHECK(resolve_output_format(OutputFormat::auto_, true, true) == OutputFormat::webp);
  CHECK(resolve_output_format(OutputFormat::auto_, false, true) == OutputFormat::png);
  CHECK(resolve_output_format(OutputFormat::auto_, false, false) == OutputFormat::jpeg);
  CHECK(resolve_output_format(OutputFormat::png, true, false) == OutputFormat::png);
}

TEST_CASE("transform: every fit gives the exact size for a real 3840x2160 photo") {
  struct Case {
    Fit fit;
    int w, h;
  };
  const Case cases[] = {
      {Fit::cover, 400, 300}, {Fit::contain, 400, 300}, {Fit::fill, 400, 300},
      {Fit::inside, 400, 225}, {Fit::outside, 533, 300},
  };
  const auto bytes = load(kPhoto);
  for (const auto& c : cases) {
    CAPTURE(to_string(c.fit));
    const Transformed t = transform(bytes, sized(400, 300, c.fit), SourceLimits{});
    CHECK(t.format == OutputFormat::jpeg);
    CHECK(t.width == c.w);
    CHECK(t.height == c.h);
    CHECK(t.source.width == 3840);
    CHECK(t.shrink_on_load >= 4);  // decoded at 1/4 or 1/8, never in full
    CHECK(is_jpeg(t.bytes));
    const cv::Mat out = decode(t);
    REQUIRE(!out.empty());
    CHECK(out.cols == c.w);
    CHECK(out.rows == c.h);
    CHECK(out.channels() == 3);
  }
}

TEST_CASE("transform: only w or only h keeps the aspect ratio; no enlargement by default") {
  const auto bytes = load(kPhoto);
  Transformed t = transform(bytes, sized(400, std::nullopt), SourceLimits{});
  CHECK(t.width == 400);
  CHECK(t.height == 225);
  CHECK(t.shrink_on_load == 8);  // 480x270 still covers 400x225
  t = transform(bytes, sized(std::nullopt, 90), SourceLimits{});
  CHECK(t.width == 160);
  CHECK(t.height == 90);
  const cv::Mat out = decode(t);
  CHECK(out.cols == 160);
  CHECK(out.rows == 90);

  // 32x32 source, w=64: not enlarged unless asked; enlarge=true gives 64x64.
  TransformOptions o = sized(64, std::nullopt);
  t = run("pngsuite/basn2c08.png", o);
  CHECK(t.width == 32);
  o.enlarge = true;
  t = run("pngsuite/basn2c08.png", o);
  CHECK(t.width == 64);
  CHECK(t.height == 64);
  CHECK(decode(t).cols == 64);
}

TEST_CASE("transform: shrink-on-load decodes a big JPEG at 1/8 and resizes exactly") {
  // Dragonfly 4224x3168 progressive; w=200 -> 200x150, decoded at 528x396.
  const Transformed t = run("photos/Dragonfly_by_Bolly.jpg", sized(200, std::nullopt));
  CHECK(t.shrink_on_load == 8);
  CHECK(t.width == 200);
  CHECK(t.height == 150);
  // A height that is not a multiple of 8 (3837): ceil rounding of the reduced decode.
  const Transformed wine = run("photos/Wine_by_Jakkub_Mede.jpg", sized(100, std::nullopt));
  CHECK(wine.shrink_on_load == 8);
  CHECK(wine.width == 100);
  CHECK(wine.height == 150);  // 3837 * 100 / 2560 = 149.9
  const cv::Mat out = decode(wine);
  CHECK(out.rows == wine.height);
}

TEST_CASE("transform: the observer sees each stage once, in order") {
  std::vector<Stage> seen;
  std::chrono::nanoseconds total{0};
  const auto bytes = load("exif-orientation-examples/Landscape_6.jpg");
  const Transformed t = transform(bytes, sized(100, std::nullopt), SourceLimits{},
                                  [&](Stage s, std::chrono::nanoseconds d) {
                                    seen.push_back(s);
                                    total += d;
                                  });
  CHECK(t.width == 100);
  CHECK(seen == std::vector<Stage>{Stage::probe, Stage::decode, Stage::resize, Stage::encode});
  CHECK(total.count() > 0);
}

TEST_CASE("transform: every EXIF orientation comes out upright and equal to orientation 1") {
  for (const std::string set : {"Landscape", "Portrait"}) {
    CAPTURE(set);
    const std::string dir = "exif-orientation-examples/" + set + "_";
    const Transformed ref = run(dir + "1.jpg", sized(300, std::nullopt));
    CHECK(ref.width == 300);
    CHECK(ref.height == (set == "Landscape" ? 200 : 450));
    const cv::Mat ref_pixels = decode(ref, cv::IMREAD_COLOR);
    for (int n = 0; n <= 8; ++n) {
      CAPTURE(n);
      const Transformed t = run(dir + std::to_string(n) + ".jpg", sized(300, std::nullopt));
      CHECK(t.width == ref.width);
      CHECK(t.height == ref.height);
      const cv::Mat pixels = decode(t, cv::IMREAD_COLOR);
      REQUIRE(pixels.size() == ref_pixels.size());
      CHECK(mean_abs_diff(pixels, ref_pixels) < 12.0);
    }
  }
}

TEST_CASE("transform: orient=false keeps the raw pixels (Landscape_6 stays portrait)") {
  TransformOptions o = sized(300, std::nullopt);
  o.orient = false;
  const Transformed raw = run("exif-orientation-examples/Landscape_6.jpg", o);
  CHECK(raw.width == 300);
  CHECK(raw.height == 450);  // raw 1200x1800
  // And it is the upright image rotated back: rotating it 90° clockwise gives _1.
  const Transformed ref = run("exif-orientation-examples/Landscape_1.jpg", sized(450, std::nullopt));
  cv::Mat rotated;
  cv::rotate(decode(raw, cv::IMREAD_COLOR), rotated, cv::ROTATE_90_CLOCKWISE);
  CHECK(mean_abs_diff(rotated, decode(ref, cv::IMREAD_COLOR)) < 12.0);
}

TEST_CASE("transform: EXIF orientation in PNG and WebP is applied exactly once") {
  // imgproxy/orientation-N.png all hold the same raw pixels with different eXIf tags,
  // and OpenCV itself honours PNG eXIf unless told not to: the oriented output must be
  // the raw output with the tag's operations applied once (twice would be a no-op for
  // 2, 3, 4 and a 180-degree turn for 6 and 8).
  struct Case {
    const char* file;
    int orientation;
  };
  const Case cases[] = {
      {"imgproxy/orientation-1.png", 3}, {"imgproxy/orientation-2.png", 2},
      {"imgproxy/orientation-4.png", 4}, {"imgproxy/orientation-5.png", 5},
      {"imgproxy/orientation-6.png", 6}, {"imgproxy/orientation-7.png", 7},
      {"imgproxy/orientation-8.png", 8}, {"pillow/hopper_orientation_3.webp", 3},
      {"pillow/hopper_orientation_5.webp", 5}, {"pillow/hopper_orientation_6.webp", 6},
      {"pillow/hopper_orientation_8.webp", 8},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    TransformOptions o;
    o.format = OutputFormat::png;  // lossless: exact comparison
    const auto bytes = load(c.file);
    const Transformed upright = transform(bytes, o, SourceLimits{});
    CHECK(upright.source.orientation == c.orientation);
    o.orient = false;
    const cv::Mat raw = decode(transform(bytes, o, SourceLimits{}));
    const OrientOps ops = orient_ops(c.orientation);
    cv::Mat expected = raw.clone();
    if (ops.rotate_cw == 90) cv::rotate(raw, expected, cv::ROTATE_90_CLOCKWISE);
    if (ops.rotate_cw == 180) cv::rotate(raw, expected, cv::ROTATE_180);
    if (ops.rotate_cw == 270) cv::rotate(raw, expected, cv::ROTATE_90_COUNTERCLOCKWISE);
    if (ops.flip_horizontal) cv::flip(expected.clone(), expected, 1);
    const cv::Mat got = decode(upright);
    REQUIRE(got.size() == expected.size());
    CHECK(cv::norm(got, expected, cv::NORM_INF) == 0);
  }
}

TEST_CASE("transform: alpha is kept for PNG and WebP output") {
  // basn6a08: RGBA 32x32 with an alpha gradient; find a fully transparent pixel.
  const auto bytes = load("pngsuite/basn6a08.png");
  const cv::Mat source = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  REQUIRE(source.type() == CV_8UC4);
  cv::Point transparent(-1, -1);
  for (int y = 0; y < source.rows && transparent.x < 0; ++y) {
    for (int x = 0; x < source.cols; ++x) {
      if (source.at<cv::Vec4b>(y, x)[3] == 0) {
        transparent = {x, y};
        break;
      }
    }
  }
  REQUIRE(transparent.x >= 0);

  TransformOptions o;
  o.format = OutputFormat::png;
  Transformed t = transform(bytes, o, SourceLimits{});
  CHECK(t.format == OutputFormat::png);
  CHECK(is_png(t.bytes));
  cv::Mat out = decode(t);
  REQUIRE(out.type() == CV_8UC4);
  CHECK(out.size() == source.size());
  CHECK(out.at<cv::Vec4b>(transparent)[3] == 0);
  CHECK(cv::norm(out, source, cv::NORM_INF) == 0);  // no resize: lossless round trip

  // Resized (premultiplied resampling) it still has alpha.
  o.width = 16;
  t = transform(bytes, o, SourceLimits{});
  out = decode(t);
  REQUIRE(out.type() == CV_8UC4);
  CHECK(out.cols == 16);

  o.width.reset();
  o.format = OutputFormat::webp;
  t = transform(bytes, o, SourceLimits{});
  CHECK(is_webp(t.bytes));
  out = decode(t);
  REQUIRE(out.type() == CV_8UC4);
  CHECK(out.at<cv::Vec4b>(transparent)[3] < 8);
}

TEST_CASE("transform: alpha is flattened onto the background for JPEG output") {
  // 5_webp_a.webp: 300x300 with large fully transparent areas.
  const auto bytes = load("sharp/5_webp_a.webp");
  const cv::Mat source = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  REQUIRE(source.type() == CV_8UC4);
  TransformOptions o;
  o.format = OutputFormat::jpeg;
  o.quality = 95;
  o.background = *parse_colour("ff0000");
  const Transformed t = transform(bytes, o, SourceLimits{});
  CHECK(is_jpeg(t.bytes));
  const cv::Mat out = decode(t);
  REQUIRE(out.type() == CV_8UC3);
  REQUIRE(out.size() == source.size());
  // Every fully transparent pixel whose 3x3 neighbourhood is transparent too (JPEG
  // blocks smear edges) is red; every opaque one keeps its colour.
  int checked = 0;
  for (int y = 1; y + 1 < source.rows; ++y) {
    for (int x = 1; x + 1 < source.cols; ++x) {
      double alpha_max = 0;
      cv::Mat alpha;
      cv::extractChannel(source(cv::Rect(x - 1, y - 1, 3, 3)), alpha, 3);
      cv::minMaxLoc(alpha, nullptr, &alpha_max);
      if (alpha_max != 0) continue;
      const cv::Vec3b px = out.at<cv::Vec3b>(y, x);
      CHECK(px[2] > 215);  // R
      CHECK(px[1] < 40);   // G
      CHECK(px[0] < 40);   // B
      ++checked;
    }
  }
  CHECK(checked > 0);
}

TEST_CASE("transform: contain pads with the background colour") {
  const auto bytes = load(kPhoto);
  TransformOptions o = sized(200, 200, Fit::contain);
  o.background = *parse_colour("00ff00");
  o.quality = 95;
  Transformed t = transform(bytes, o, SourceLimits{});
  CHECK(t.width == 200);
  CHECK(t.height == 200);
  cv::Mat out = decode(t);
  REQUIRE(out.type() == CV_8UC3);
  // Image 200x113 centred: rows 0..42 and 156..199 are padding.
  for (const cv::Point p : {cv::Point(100, 5), cv::Point(3, 30), cv::Point(190, 195)}) {
    const cv::Vec3b px = out.at<cv::Vec3b>(p);
    CHECK(px[0] < 20);
    CHECK(px[1] > 235);
    CHECK(px[2] < 20);
  }

  // PNG output: a transparent background gives transparent padding, opaque image.
  o.format = OutputFormat::png;
  o.background = *parse_colour("transparent");
  t = transform(bytes, o, SourceLimits{});
  out = decode(t);
  REQUIRE(out.type() == CV_8UC4);
  CHECK(out.at<cv::Vec4b>(5, 100)[3] == 0);
  CHECK(out.at<cv::Vec4b>(100, 100)[3] == 255);

  // position=north: the image at the top, padding below.
  o.format = OutputFormat::png;
  o.position = Position::north;
  t = transform(bytes, o, SourceLimits{});
  out = decode(t);
  CHECK(out.at<cv::Vec4b>(5, 100)[3] == 255);
  CHECK(out.at<cv::Vec4b>(195, 100)[3] == 0);
}

TEST_CASE("transform: format auto picks WebP, PNG for alpha sources, else JPEG") {
  TransformOptions o = sized(64, std::nullopt);
  o.format = OutputFormat::auto_;

  Transformed t = run("exif-orientation-examples/Landscape_1.jpg", o);
  CHECK(t.format == OutputFormat::jpeg);
  CHECK(is_jpeg(t.bytes));
  t = run("pngsuite/basn6a08.png", o);
  CHECK(t.format == OutputFormat::png);
  CHECK(is_png(t.bytes));
  t = run("pngsuite/basn2c08.png", o);  // PNG without alpha -> JPEG
  CHECK(t.format == OutputFormat::jpeg);
  CHECK(is_jpeg(t.bytes));

  o.accepts_webp = true;
  for (const char* file : {"exif-orientation-examples/Landscape_1.jpg", "pngsuite/basn6a08.png"}) {
    CAPTURE(file);
    t = run(file, o);
    CHECK(t.format == OutputFormat::webp);
    CHECK(is_webp(t.bytes));
    CHECK(!decode(t).empty());
  }
  // An explicit format wins over Accept.
  o.format = OutputFormat::png;
  t = run("exif-orientation-examples/Landscape_1.jpg", o);
  CHECK(is_png(t.bytes));
}

TEST_CASE("transform: grey, grey+alpha, 16-bit, palette and CMYK sources give 8-bit BGR/BGRA") {
  struct Case {
    const char* file;
    int channels;  // of the PNG output
  };
  const Case cases[] = {
      {"pngsuite/basn0g01.png", 3}, {"pngsuite/basn0g08.png", 3}, {"pngsuite/basn0g16.png", 3},
      {"pngsuite/basn2c16.png", 3}, {"pngsuite/basn3p01.png", 3}, {"pngsuite/basn3p08.png", 3},
      {"pngsuite/basn4a08.png", 4}, {"pngsuite/basn4a16.png", 4}, {"pngsuite/basn6a16.png", 4},
      {"pngsuite/basi6a16.png", 4}, {"libjpeg-turbo/monkey16.png", 3},
      {"libvips/indexed.png", 3},   {"pillow/hopper_gray.jpg", 3},
      {"pillow/pil_sample_cmyk.jpg", 3}, {"sharp/Channel_digital_image_CMYK_color_no_profile.jpg", 3},
      {"sharp/5_webp_a.webp", 4}, {"sharp/uncompressed_tiff.tiff", 3},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    TransformOptions o;
    o.format = OutputFormat::png;
    const auto bytes = load(c.file);
    const Transformed t = transform(bytes, o, SourceLimits{});
    const cv::Mat out = decode(t);
    REQUIRE(!out.empty());
    CHECK(out.depth() == CV_8U);
    CHECK(out.channels() == c.channels);
    CHECK(out.cols == static_cast<int>(t.source.oriented_width()));
    CHECK(out.rows == static_cast<int>(t.source.oriented_height()));
    // The colours match OpenCV's own 8-bit colour decode of the source.
    if (t.source.orientation == 1) {
      cv::Mat expected = cv::imdecode(bytes, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
      cv::Mat got;
      if (out.channels() == 4) {
        cv::cvtColor(out, got, cv::COLOR_BGRA2BGR);
      } else {
        got = out;
      }
      CHECK(mean_abs_diff(got, expected) < 1.5);
    }
  }
}

TEST_CASE("transform: grey sources stay grey, 16-bit is scaled by 1/257") {
  TransformOptions o;
  o.format = OutputFormat::png;
  const auto bytes = load("pngsuite/basn0g16.png");
  const cv::Mat raw = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  REQUIRE(raw.type() == CV_16UC1);
  const cv::Mat out = decode(transform(bytes, o, SourceLimits{}));
  REQUIRE(out.type() == CV_8UC3);
  for (int y = 0; y < raw.rows; y += 7) {
    for (int x = 0; x < raw.cols; x += 5) {
      const int expected = (raw.at<std::uint16_t>(y, x) + 128) / 257;
      const cv::Vec3b px = out.at<cv::Vec3b>(y, x);
      CHECK(std::abs(px[0] - expected) <= 1);
      CHECK(px[0] == px[1]);
      CHECK(px[1] == px[2]);
    }
  }
}

TEST_CASE("transform: corrupt pixel data after a valid header is undecodable") {
  // Each of these probes fine (valid header) but its pixel data is broken.
  // The JPEGs: libjpeg only warns about a premature end and OpenCV would return the
  // image with its missing part grey; transform requires the EOI marker.
  for (const char* file : {"pngsuite/xcsn0g01.png", "pillow/truncated_image.png",
                           "pillow/broken_data_stream.png", "pillow/truncated_end_chunk.png",
                           "pillow/truncated_jpeg.jpg", "sharp/truncated.jpg",
                           "pillow/ultrahdr.jpg"}) {
    CAPTURE(file);
    const auto bytes = load(file);
    REQUIRE_NOTHROW((void)probe(std::span<const unsigned char>(bytes.data(), bytes.size())));
    CHECK(error_kind(file, sized(16, std::nullopt)) == ImageError::Kind::undecodable);
  }
}

TEST_CASE("transform: a JPEG cut short is undecodable; bytes after its end are fine") {
  const auto whole = load("exif-orientation-examples/Landscape_1.jpg");
  for (const std::size_t keep : {whole.size() / 2, whole.size() - 2, whole.size() - 1}) {
    CAPTURE(keep);
    const std::vector<std::uint8_t> cut(whole.begin(), whole.begin() + static_cast<long>(keep));
    try {
      (void)transform(cut, sized(100, std::nullopt), SourceLimits{});
      FAIL("a truncated JPEG was accepted");
    } catch (const ImageError& e) {
      CHECK(e.kind() == ImageError::Kind::undecodable);
    }
  }
  std::vector<std::uint8_t> padded = whole;
  for (int i = 0; i < 100; ++i) padded.push_back(static_cast<std::uint8_t>(i * 7));
  const Transformed t = transform(padded, sized(100, std::nullopt), SourceLimits{});
  CHECK(t.width == 100);
  CHECK(t.height == 67);
}

TEST_CASE("transform: bombs are refused before decoding, bad requests by geometry") {
  bool decoded = false;
  const auto bytes = load("fuzzdb/lottapixel.jpg");
  try {
    (void)transform(bytes, sized(100, std::nullopt), SourceLimits{},
                    [&](Stage s, std::chrono::nanoseconds) { decoded = decoded || s != Stage::probe; });
    FAIL("the bomb was accepted");
  } catch (const ImageError& e) {
    CHECK(e.kind() == ImageError::Kind::over_limit);
  }
  CHECK(!decoded);
  CHECK(error_kind("pillow/reallybig.bmp") == ImageError::Kind::over_limit);
  // A tight limit refuses a real photo the same way.
  SourceLimits tight;
  tight.max_source_pixels = 1'000'000;
  CHECK_THROWS_AS((void)transform(load(kPhoto), sized(100, std::nullopt), tight), ImageError);
  // Unsupported formats never reach OpenCV.
  CHECK(error_kind("libvips/truncated.gif") == ImageError::Kind::unsupported_format);
  // Geometry errors pass through.
  CHECK_THROWS_AS((void)run("pngsuite/basn2c08.png", sized(0, std::nullopt)), GeometryError);
  TransformOptions big = sized(9000, std::nullopt);
  CHECK_THROWS_AS((void)run("pngsuite/basn2c08.png", big), GeometryError);
}

TEST_CASE("transform: output carries no metadata (EXIF is applied, then dropped)") {
  const auto contains = [](const std::vector<std::uint8_t>& bytes, std::string_view needle) {
    return std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end()) != bytes.end();
  };
  for (const auto format : {OutputFormat::jpeg, OutputFormat::png, OutputFormat::webp}) {
    TransformOptions o = sized(120, std::nullopt);
    o.format = format;
    const Transformed t = run("exif-orientation-examples/Landscape_6.jpg", o);  // has an EXIF block
    CAPTURE(to_string(format));
    CHECK_FALSE(contains(t.bytes, std::string_view("Exif\0\0", 6)));
    CHECK_FALSE(contains(t.bytes, "eXIf"));
    CHECK_FALSE(contains(t.bytes, "EXIF"));
    CHECK(probe(std::span<const std::uint8_t>(t.bytes)).orientation == 1);
  }
}
