// The JPEG -> JPEG pipeline on Y'CbCr planes (imaging/src/jpeg_yuv.hpp) against the BGR
// pipeline on the same inputs (transform_pipeline.hpp runs either): exact sizes, a
// 4:2:0 baseline output, pixels within a measured bound of the BGR output, every EXIF
// orientation, odd sizes and odd crop offsets; inputs it must not take keep the BGR
// pipeline byte for byte; broken JPEGs are refused as before.
#include <doctest/doctest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "imaging_testdata.hpp"
#include "jpeg_yuv.hpp"
#include "pixelmill/imaging/image_error.hpp"
#include "pixelmill/imaging/transform.hpp"
#include "transform_pipeline.hpp"

using namespace pixelmill::imaging;

namespace {

using pixelmill::test::decode;
using pixelmill::test::load;
using Bytes = std::vector<std::uint8_t>;

// Bounds from measurement (worst case seen, then a margin). Worst channel's mean
// absolute difference from the BGR pipeline's output, and PSNR between the two:
//   the six photos at w=800: 0.88 levels, 45.6 dB; against a lossless (PNG) output of
//     the BGR pipeline both JPEGs are equally good (within 0.06 dB);
//   exif-orientation-examples at 300 wide / 301x201 cover: 1.9 levels, 41.1 dB;
//   the generated test card (saturated colour edges, 4:1:1 included) shrunk, or
//     enlarged ~2x: 11.2 levels, 28.5 dB (4:1:1 to 90x37); at 17x9 and 1x1: 19.1
//     levels, 20.4 dB.
// Chroma planes mirrored, or shifted by a pixel, the wrong way measured 14..80 levels,
// under 25 dB.
struct Bounds {
  double max_mad;
  double min_psnr;
};
constexpr Bounds kPhotoBounds{1.5, 42.0};
constexpr Bounds kExifSampleBounds{3.0, 38.0};
constexpr Bounds kCardBounds{12.0, 28.0};
constexpr Bounds kTinyCardBounds{20.0, 20.0};

struct Comparison {
  double worst_channel_mad = 0;  // mean absolute difference of the worst B, G or R channel
  double psnr = 0;
};

Comparison compare(const Bytes& a, const Bytes& b) {
  const cv::Mat x = decode(a, cv::IMREAD_COLOR), y = decode(b, cv::IMREAD_COLOR);
  REQUIRE(!x.empty());
  REQUIRE(x.size() == y.size());
  cv::Mat xs[3], ys[3];
  cv::split(x, xs);
  cv::split(y, ys);
  Comparison c;
  for (int i = 0; i < 3; ++i) {
    c.worst_channel_mad =
        std::max(c.worst_channel_mad, cv::norm(xs[i], ys[i], cv::NORM_L1) / static_cast<double>(x.total()));
  }
  c.psnr = cv::PSNR(x, y);
  return c;
}

struct Sof {
  int marker = 0;  // 0xC0 baseline, 0xC1 extended, 0xC2 progressive ...
  int components = 0;
  int h[4] = {}, v[4] = {};
};

// The first SOFn segment of a JPEG.
std::optional<Sof> read_sof(const Bytes& b) {
  std::size_t pos = 2;
  while (pos + 4 <= b.size() && b[pos] == 0xFF) {
    const int marker = b[pos + 1];
    const std::size_t length = std::size_t{b[pos + 2]} << 8 | b[pos + 3];
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof && pos + 10 <= b.size()) {
      Sof s;
      s.marker = marker;
      s.components = b[pos + 9];
      for (int i = 0; i < std::min(s.components, 4) && pos + 12 + 3 * i <= b.size(); ++i) {
        s.h[i] = b[pos + 11 + 3 * i] >> 4;
        s.v[i] = b[pos + 11 + 3 * i] & 0x0F;
      }
      return s;
    }
    pos += 2 + length;
  }
  return std::nullopt;
}

void check_baseline_420(const Bytes& jpeg) {
  const auto sof = read_sof(jpeg);
  REQUIRE(sof.has_value());
  CHECK(sof->marker == 0xC0);
  REQUIRE(sof->components == 3);
  CHECK(sof->h[0] == 2);
  CHECK(sof->v[0] == 2);
  for (int c = 1; c < 3; ++c) {
    CHECK(sof->h[c] == 1);
    CHECK(sof->v[c] == 1);
  }
}

PipelineResult run(Pipeline pipeline, const Bytes& bytes, const TransformOptions& options) {
  return transform_with(pipeline, bytes, options, SourceLimits{});
}

// Both pipelines on one input: the planar one must be taken, give the same size as
// the BGR one and pixels within the bounds.
void check_agreement(const Bytes& bytes, const TransformOptions& options, Bounds bounds) {
  const PipelineResult yuv = run(Pipeline::yuv, bytes, options);
  const PipelineResult bgr = run(Pipeline::bgr, bytes, options);
  REQUIRE(yuv.used == Pipeline::yuv);
  REQUIRE(bgr.used == Pipeline::bgr);
  CHECK(yuv.transformed.width == bgr.transformed.width);
  CHECK(yuv.transformed.height == bgr.transformed.height);
  CHECK(yuv.transformed.shrink_on_load == bgr.transformed.shrink_on_load);
  check_baseline_420(yuv.transformed.bytes);
  const cv::Mat out = decode(yuv.transformed.bytes, cv::IMREAD_COLOR);
  CHECK(out.cols == yuv.transformed.width);
  CHECK(out.rows == yuv.transformed.height);
  const Comparison c = compare(yuv.transformed.bytes, bgr.transformed.bytes);
  CAPTURE(c.worst_channel_mad);
  CAPTURE(c.psnr);
  CHECK(c.worst_channel_mad < bounds.max_mad);
  CHECK(c.psnr > bounds.min_psnr);
}

TransformOptions sized(std::optional<int> w, std::optional<int> h, Fit fit = Fit::cover,
                       Position position = Position::centre, bool enlarge = false) {
  TransformOptions o;
  o.width = w;
  o.height = h;
  o.fit = fit;
  o.position = position;
  o.enlarge = enlarge;
  o.format = OutputFormat::jpeg;
  o.quality = 80;
  return o;
}

// A test card: smooth gradients and texture, saturated colour shapes placed
// asymmetrically (a chroma plane flipped or shifted the wrong way shows at once), a
// few thin lines.
cv::Mat test_card(int width, int height) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.at<cv::Vec3b>(y, x) =
          cv::Vec3b(cv::saturate_cast<std::uint8_t>(255.0 * x / std::max(1, width - 1)),
                    cv::saturate_cast<std::uint8_t>(255.0 * y / std::max(1, height - 1)),
                    cv::saturate_cast<std::uint8_t>(128 + 100 * std::sin(x / 13.0 + y / 17.0)));
    }
  }
  cv::rectangle(image, cv::Rect(width / 5 + 1, height / 7 + 1, width / 3 + 1, height / 4 + 1),
                cv::Scalar(0, 0, 255), cv::FILLED);
  cv::circle(image, cv::Point(width * 2 / 3, height * 2 / 3), std::max(1, std::min(width, height) / 5),
             cv::Scalar(255, 40, 0), cv::FILLED);
  for (int i = 1; i <= 3; ++i) {
    cv::line(image, {i * width / 4, 0}, {i * width / 4 + width / 8, height - 1}, cv::Scalar(20, 200, 20), 2);
  }
  return image;
}

// OpenCV 4.6's imencode has no IMWRITE_JPEG_SAMPLING_FACTOR (4.7+): TurboJPEG's packed
// BGR encoder, which the pipelines under test do not use, writes the test JPEGs.
Bytes encode_jpeg(const cv::Mat& bgr, int subsampling) {
  REQUIRE(bgr.type() == CV_8UC3);
  REQUIRE(bgr.isContinuous());
  tjhandle handle = tjInitCompress();
  REQUIRE(handle != nullptr);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(handle, bgr.data, bgr.cols, 0, bgr.rows, TJPF_BGR, &buffer, &size, subsampling, 95,
                             TJFLAG_ACCURATEDCT);
  Bytes out;
  if (rc == 0) out.assign(buffer, buffer + size);
  tjFree(buffer);
  tjDestroy(handle);
  REQUIRE(rc == 0);
  return out;
}

// `jpeg` with an EXIF APP1 segment holding only Orientation = `orientation`, after
// SOI and the JFIF APP0 segment.
Bytes with_exif_orientation(const Bytes& jpeg, int orientation) {
  REQUIRE(jpeg.size() > 4);
  std::size_t at = 2;
  if (jpeg[2] == 0xFF && jpeg[3] == 0xE0) at = 4 + (std::size_t{jpeg[4]} << 8 | jpeg[5]);
  const Bytes payload = {'E', 'x', 'i', 'f', 0, 0,
                         'M', 'M', 0, 42, 0, 0, 0, 8,                      // big-endian TIFF, IFD at 8
                         0, 1,                                             // one entry
                         0x01, 0x12, 0, 3, 0, 0, 0, 1,                     // Orientation, SHORT, 1
                         0, static_cast<std::uint8_t>(orientation), 0, 0,  // value
                         0, 0, 0, 0};                                      // no next IFD
  const std::size_t length = payload.size() + 2;
  Bytes out(jpeg.begin(), jpeg.begin() + static_cast<long>(at));
  out.insert(out.end(), {0xFF, 0xE1, static_cast<std::uint8_t>(length >> 8), static_cast<std::uint8_t>(length)});
  out.insert(out.end(), payload.begin(), payload.end());
  out.insert(out.end(), jpeg.begin() + static_cast<long>(at), jpeg.end());
  return out;
}

std::vector<std::filesystem::path> photos() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(pixelmill::test::kTestdata / "photos")) {
    if (entry.path().extension() == ".jpg") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

ImageError::Kind error_kind(Pipeline pipeline, const Bytes& bytes, const TransformOptions& options) {
  try {
    (void)run(pipeline, bytes, options);
  } catch (const ImageError& e) {
    return e.kind();
  }
  FAIL("no ImageError");
  return ImageError::Kind::malformed;
}

}  // namespace

TEST_CASE("jpeg_yuv: the six photos at w=800 take the planar pipeline and match the BGR one") {
  const auto files = photos();
  REQUIRE(files.size() == 6);
  for (const auto& file : files) {
    CAPTURE(file.filename().string());
    const Bytes bytes = pixelmill::test::read_bytes(file);
    const PipelineResult yuv = run(Pipeline::yuv, bytes, sized(800, std::nullopt));
    const auto source = yuv.transformed.source;
    CHECK(yuv.transformed.width == 800);
    // The height the plan promises: source height scaled by 800 / width, rounded.
    const auto expected_h = (std::uint64_t{source.oriented_height()} * 800 + source.oriented_width() / 2) /
                            source.oriented_width();
    CHECK(yuv.transformed.height == static_cast<int>(expected_h));
    CHECK(yuv.transformed.shrink_on_load > 1);
    check_agreement(bytes, sized(800, std::nullopt), kPhotoBounds);
    // Against a lossless output of the BGR pipeline, the planar JPEG is as good as the
    // BGR one.
    TransformOptions png = sized(800, std::nullopt);
    png.format = OutputFormat::png;
    const Bytes lossless = run(Pipeline::bgr, bytes, png).transformed.bytes;
    const Bytes bgr = run(Pipeline::bgr, bytes, sized(800, std::nullopt)).transformed.bytes;
    CHECK(compare(yuv.transformed.bytes, lossless).psnr > compare(bgr, lossless).psnr - 0.2);
  }
}

TEST_CASE("jpeg_yuv: generated 4:4:4, 4:2:2, 4:2:0, 4:4:0 and 4:1:1 JPEGs, odd sizes, every EXIF orientation") {
  struct Sampling {
    std::string name;
    int factor;
  };
  const Sampling samplings[] = {{"4:4:4", TJSAMP_444}, {"4:2:2", TJSAMP_422}, {"4:2:0", TJSAMP_420},
                                {"4:4:0", TJSAMP_440}, {"4:1:1", TJSAMP_411}};
  const cv::Size sizes[] = {{333, 517}, {1, 1}, {17, 9}, {640, 479}};
  const TransformOptions requests[] = {
      sized(200, std::nullopt),                                     // shrink (1/2 on load for 640)
      sized(101, 61),                                               // cover, centre
      sized(90, 37, Fit::cover, Position::southeast),               // cover, far corner
      sized(57, 200, Fit::cover, Position::northwest, true),        // enlarge, cover
      sized(150, 41, Fit::fill),                                    // fill: axes scale apart
      sized(120, 120, Fit::inside),                                 // inside
      sized(std::nullopt, 999, Fit::cover, Position::centre, true), // enlarge (cubic)
  };
  int odd_crops = 0;
  for (const auto& sampling : samplings) {
    CAPTURE(sampling.name);
    for (const cv::Size size : sizes) {
      CAPTURE(size);
      const bool tiny = size.width < 32;
      const Bytes plain = encode_jpeg(test_card(size.width, size.height), sampling.factor);
      for (int orientation = 1; orientation <= 8; ++orientation) {
        CAPTURE(orientation);
        const Bytes bytes = with_exif_orientation(plain, orientation);
        REQUIRE(probe(std::span<const std::uint8_t>(bytes)).orientation == orientation);
        for (const auto& options : requests) {
          // Enlarging a 17x9 image 20..100 times shows the chroma kernels' shapes more
          // than anything else (cubic on 4:2:0 samples here, libjpeg's triangle
          // upsampling then cubic there); not a case worth a bound.
          if (tiny && options.enlarge) continue;
          CAPTURE(options.width.value_or(0));
          CAPTURE(options.height.value_or(0));
          CAPTURE(to_string(options.fit));
          GeometryRequest request;
          request.source = {size.width, size.height};
          request.orientation = orientation;
          request.width = options.width;
          request.height = options.height;
          request.fit = options.fit;
          request.position = options.position;
          request.enlarge = options.enlarge;
          request.decoder_can_shrink = true;
          request.max_output_dimension = options.max_output_dimension;
          const GeometryPlan plan = plan_geometry(request);
          if (plan.crop.x % 2 != 0 || plan.crop.y % 2 != 0) ++odd_crops;
          const PipelineResult yuv = run(Pipeline::yuv, bytes, options);
          CHECK(yuv.transformed.width == plan.output.width);
          CHECK(yuv.transformed.height == plan.output.height);
          check_agreement(bytes, options, tiny ? kTinyCardBounds : kCardBounds);
        }
      }
    }
  }
  CHECK(odd_crops > 20);  // the odd chroma offsets were exercised
}

TEST_CASE("jpeg_yuv: the EXIF orientation samples agree with the BGR pipeline") {
  for (const std::string set : {"Landscape", "Portrait"}) {
    for (int n = 0; n <= 8; ++n) {
      CAPTURE(set);
      CAPTURE(n);
      const Bytes bytes = load("exif-orientation-examples/" + set + "_" + std::to_string(n) + ".jpg");
      check_agreement(bytes, sized(300, std::nullopt), kExifSampleBounds);
      check_agreement(bytes, sized(301, 201, Fit::cover, Position::east), kExifSampleBounds);
    }
  }
}

TEST_CASE("jpeg_yuv: grey, CMYK, padded and non-JPEG outputs keep the BGR pipeline, byte for byte") {
  struct Case {
    const char* file;
    TransformOptions options;
  };
  TransformOptions png = sized(100, std::nullopt);
  png.format = OutputFormat::png;
  const Case cases[] = {
      {"pillow/hopper_gray.jpg", sized(100, std::nullopt)},
      {"pillow/pil_sample_cmyk.jpg", sized(100, std::nullopt)},
      {"sharp/Channel_digital_image_CMYK_color_no_profile.jpg", sized(100, std::nullopt)},
      {"exif-orientation-examples/Landscape_6.jpg", sized(100, 100, Fit::contain)},  // pads
      {"exif-orientation-examples/Landscape_6.jpg", png},
      {"pngsuite/basn2c08.png", sized(20, std::nullopt)},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    const Bytes bytes = load(c.file);
    const PipelineResult chosen = run(Pipeline::yuv, bytes, c.options);
    const PipelineResult bgr = run(Pipeline::bgr, bytes, c.options);
    CHECK(chosen.used == Pipeline::bgr);
    CHECK(chosen.transformed.bytes == bgr.transformed.bytes);
    CHECK(chosen.transformed.width == bgr.transformed.width);
    CHECK(chosen.transformed.height == bgr.transformed.height);
    // transform() itself is the planar-preferring one.
    CHECK(transform(bytes, c.options, SourceLimits{}).bytes == bgr.transformed.bytes);
  }
}

TEST_CASE("jpeg_yuv: a truncated JPEG is undecodable on either pipeline") {
  const Bytes whole = encode_jpeg(test_card(333, 517), TJSAMP_420);
  const Bytes photo = load("photos/Dragonfly_by_Bolly.jpg");  // progressive
  for (const Bytes* source : {&whole, &photo}) {
    for (const std::size_t keep : {source->size() / 2, source->size() - 2, source->size() - 1}) {
      CAPTURE(keep);
      const Bytes cut(source->begin(), source->begin() + static_cast<long>(keep));
      CHECK(error_kind(Pipeline::yuv, cut, sized(100, std::nullopt)) == ImageError::Kind::undecodable);
      CHECK(error_kind(Pipeline::bgr, cut, sized(100, std::nullopt)) == ImageError::Kind::undecodable);
    }
  }
  for (const char* file : {"pillow/truncated_jpeg.jpg", "sharp/truncated.jpg"}) {
    CAPTURE(file);
    CHECK(error_kind(Pipeline::yuv, load(file), sized(16, std::nullopt)) == ImageError::Kind::undecodable);
  }
}

TEST_CASE("jpeg_yuv: data libjpeg only warns about falls back to the BGR pipeline, as before") {
  const Bytes whole = encode_jpeg(test_card(333, 517), TJSAMP_420);
  // Junk between two header segments: "Corrupt JPEG data: 3 extraneous bytes before
  // marker 0xdb", a warning; OpenCV decodes the image anyway, and so does transform().
  REQUIRE(whole[2] == 0xFF);
  REQUIRE(whole[3] == 0xE0);
  const std::size_t after_app0 = 4 + (std::size_t{whole[4]} << 8 | whole[5]);
  Bytes extraneous(whole.begin(), whole.begin() + static_cast<long>(after_app0));
  extraneous.insert(extraneous.end(), {1, 2, 3});
  extraneous.insert(extraneous.end(), whole.begin() + static_cast<long>(after_app0), whole.end());
  // Entropy data cut in half, then EOI: "premature end of data segment", a warning;
  // OpenCV returns the image with the rest grey (the EOI check cannot tell).
  Bytes cut(whole.begin(), whole.begin() + static_cast<long>(whole.size() / 2));
  cut.insert(cut.end(), {0xFF, 0xD9});
  for (const Bytes* bytes : {&extraneous, &cut}) {
    const PipelineResult chosen = run(Pipeline::yuv, *bytes, sized(100, std::nullopt));
    CHECK(chosen.used == Pipeline::bgr);
    CHECK(chosen.transformed.width == 100);
    CHECK(chosen.transformed.bytes == run(Pipeline::bgr, *bytes, sized(100, std::nullopt)).transformed.bytes);
  }
}

TEST_CASE("jpeg_yuv: a large JPEG decodes in pieces on the pool, to the same bytes") {
  // A photo at 2400x1600 (3.8 MP, over the 2 MP threshold), 4:2:0, once plain and once
  // with a restart marker every MCU row: the same coefficients, differently framed.
  // At 1/4 and 1/8 shrink-on-load the split Huffman decoder takes both: the plain one
  // in one speculative segment per pool thread (2), the other in 16 runs of restart
  // intervals (8 per thread). At 1/2 and 1/1 the file with markers is cut into bands
  // for TurboJPEG, the plain one decodes in one piece.
  const cv::Mat photo = decode(pixelmill::test::read_bytes(photos().front()), cv::IMREAD_COLOR);
  cv::Mat big;
  cv::resize(photo, big, cv::Size(2400, 1600), 0, 0, cv::INTER_AREA);
  const auto encode = [&](int restart_mcus) {
    Bytes out;
    REQUIRE(cv::imencode(".jpg", big, out, {cv::IMWRITE_JPEG_QUALITY, 90, cv::IMWRITE_JPEG_RST_INTERVAL, restart_mcus}));
    return out;
  };
  const Bytes plain = encode(0), restarts = encode(2400 / 16);
  struct Case {
    TransformOptions options;
    JpegDecoder plain_decoder;
    int segments;
    JpegDecoder banded_decoder;
  };
  const Case cases[] = {{sized(800, std::nullopt), JpegDecoder::libjpeg, 1, JpegDecoder::restart_bands},  // 1/2
                        {sized(2400, std::nullopt), JpegDecoder::libjpeg, 1, JpegDecoder::restart_bands},  // 1/1
                        {sized(300, 300), JpegDecoder::split, 2, JpegDecoder::split},
                        {sized(200, std::nullopt), JpegDecoder::split, 2, JpegDecoder::split}};
  for (const auto& [options, plain_decoder, segments, banded_decoder] : cases) {
    CAPTURE(options.width.value_or(0));
    const PipelineResult whole = run(Pipeline::yuv, plain, options);
    const PipelineResult banded = run(Pipeline::yuv, restarts, options);
    CHECK(whole.used == Pipeline::yuv);
    CHECK(whole.decode.decoder == plain_decoder);
    CHECK(whole.decode.pieces == segments);
    CHECK(banded.used == Pipeline::yuv);
    CHECK(banded.decode.decoder == banded_decoder);
    CHECK(banded.decode.pieces == 16);  // 8 per thread of the test pool (2)
    CHECK(banded.transformed.bytes == whole.transformed.bytes);
  }
  // Damage inside a later band: libjpeg warns there, so the BGR pipeline runs, as
  // it would for the whole file.
  Bytes damaged = restarts;
  const std::size_t at = damaged.size() * 3 / 4;
  std::fill(damaged.begin() + static_cast<long>(at), damaged.begin() + static_cast<long>(at) + 64, std::uint8_t{0x00});
  const PipelineResult fallback = run(Pipeline::yuv, damaged, sized(800, std::nullopt));
  CHECK(fallback.used == Pipeline::bgr);
  CHECK(fallback.transformed.width == 800);
}

TEST_CASE("jpeg_yuv: a small JPEG at 1/4 and 1/8 goes to the split decoder in one piece, to libjpeg's bytes") {
  // 1200x800 (under the 2 MP split threshold): at 1/4 and 1/8 the split decoder takes
  // the file in one piece (it is faster than libjpeg on one thread), with or without a
  // restart marker every MCU row; at 1/2 libjpeg decodes both whole. The same
  // coefficients, so the same output bytes.
  const cv::Mat photo = decode(pixelmill::test::read_bytes(photos().front()), cv::IMREAD_COLOR);
  cv::Mat small;
  cv::resize(photo, small, cv::Size(1200, 800), 0, 0, cv::INTER_AREA);
  const auto encode = [&](int restart_mcus) {
    Bytes out;
    REQUIRE(cv::imencode(".jpg", small, out, {cv::IMWRITE_JPEG_QUALITY, 85, cv::IMWRITE_JPEG_RST_INTERVAL, restart_mcus}));
    return out;
  };
  const Bytes plain = encode(0), restarts = encode(1200 / 16);
  const std::pair<TransformOptions, JpegDecoder> cases[] = {{sized(600, std::nullopt), JpegDecoder::libjpeg},
                                                           {sized(300, std::nullopt), JpegDecoder::split},
                                                           {sized(150, 100), JpegDecoder::split}};
  for (const auto& [options, decoder] : cases) {
    CAPTURE(options.width.value_or(0));
    const PipelineResult split = run(Pipeline::yuv, plain, options);
    const PipelineResult marked = run(Pipeline::yuv, restarts, options);
    REQUIRE(split.used == Pipeline::yuv);
    CHECK(split.decode.decoder == decoder);
    CHECK(split.decode.pieces == 1);
    REQUIRE(marked.used == Pipeline::yuv);
    CHECK(marked.decode.decoder == decoder);
    CHECK(marked.decode.pieces == 1);
    CHECK(split.transformed.bytes == marked.transformed.bytes);
  }
}

TEST_CASE("jpeg_yuv: more than 100 scans are over the limit, refused before decoding") {
  const Bytes photo = load("photos/seeding_by_Clements_Engelhardt.jpg");
  const std::string text(photo.begin(), photo.end());
  const auto eoi = text.rfind("\xFF\xD9");
  REQUIRE(eoi != std::string::npos);
  Bytes flood(photo.begin(), photo.begin() + static_cast<long>(eoi));
  const Bytes empty_scan = {0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x3F, 0x00};
  for (int i = 0; i < 101; ++i) flood.insert(flood.end(), empty_scan.begin(), empty_scan.end());
  flood.insert(flood.end(), {0xFF, 0xD9});
  bool decoded = false;
  try {
    (void)transform(flood, sized(800, std::nullopt), SourceLimits{},
                    [&](Stage s, std::chrono::nanoseconds) { decoded = decoded || s != Stage::probe; });
    FAIL("the scan flood was accepted");
  } catch (const ImageError& e) {
    CHECK(e.kind() == ImageError::Kind::over_limit);
  }
  CHECK(!decoded);
  CHECK(error_kind(Pipeline::bgr, flood, sized(800, std::nullopt)) == ImageError::Kind::over_limit);
}

TEST_CASE("jpeg_yuv: the observer sees each stage once on the planar pipeline") {
  std::vector<Stage> seen;
  const Bytes bytes = load("exif-orientation-examples/Landscape_6.jpg");
  const PipelineResult r = transform_with(Pipeline::yuv, bytes, sized(100, std::nullopt), SourceLimits{},
                                          [&](Stage s, std::chrono::nanoseconds) { seen.push_back(s); });
  CHECK(r.used == Pipeline::yuv);
  CHECK(seen == std::vector<Stage>{Stage::probe, Stage::decode, Stage::resize, Stage::encode});
}

TEST_CASE("jpeg_yuv: decode_yuv_into writes into strided planes at a row offset (bands)") {
  const Bytes jpeg = encode_jpeg(test_card(333, 517), TJSAMP_420);
  const auto header = read_yuv_header(jpeg);
  REQUIRE(header.has_value());
  CHECK(header->width == 333);
  CHECK(header->height == 517);
  const int w = 167, h = 259;  // 1/2 scale: ceil(333 / 2) x ceil(517 / 2)
  YuvPlanes compact = allocate_yuv_planes(w, h, header->subsampling);
  CHECK(compact.y.size() == cv::Size(168, 260));  // padded to even for 4:2:0
  CHECK(compact.cb.size() == cv::Size(84, 130));
  REQUIRE(decode_yuv_into(jpeg, w, h, compact.view()));
  // The same decode into the middle of wider, taller planes: 5 rows down, stride 400.
  cv::Mat big_y(300, 400, CV_8UC1, cv::Scalar(7)), big_cb(200, 400, CV_8UC1, cv::Scalar(7)),
      big_cr(200, 400, CV_8UC1, cv::Scalar(7));
  const auto at_row = [](cv::Mat& m, cv::Size size, int row) {
    return PlaneView{m.ptr(row), size.width, size.height, static_cast<std::ptrdiff_t>(m.step[0])};
  };
  const YuvPlanesView offset{at_row(big_y, compact.y.size(), 5), at_row(big_cb, compact.cb.size(), 5),
                             at_row(big_cr, compact.cr.size(), 5)};
  REQUIRE(decode_yuv_into(jpeg, w, h, offset));
  CHECK(cv::norm(big_y(cv::Rect(0, 5, 168, 260)), compact.y, cv::NORM_INF) == 0);
  CHECK(cv::norm(big_cb(cv::Rect(0, 5, 84, 130)), compact.cb, cv::NORM_INF) == 0);
  CHECK(cv::norm(big_cr(cv::Rect(0, 5, 84, 130)), compact.cr, cv::NORM_INF) == 0);
  CHECK(cv::countNonZero(big_y.rowRange(0, 5) != 7) == 0);  // nothing above the band
  // Its luma is OpenCV's own decode's, scaled: Y from BGR within rounding.
  cv::Mat reduced = cv::imdecode(jpeg, cv::IMREAD_REDUCED_COLOR_2), ycrcb;
  cv::cvtColor(reduced, ycrcb, cv::COLOR_BGR2YCrCb);
  cv::Mat luma;
  cv::extractChannel(ycrcb, luma, 0);
  CHECK(cv::norm(luma, compact.y(cv::Rect(0, 0, w, h)), cv::NORM_L1) / (w * h) < 1.5);
  // A size no scaling factor gives is refused; planes too small are a caller's bug.
  CHECK_THROWS_AS((void)decode_yuv_into(jpeg, 100, 100, compact.view()), ImageError);
  YuvPlanes small = allocate_yuv_planes(100, 100, header->subsampling);
  CHECK_THROWS_AS((void)decode_yuv_into(jpeg, w, h, small.view()), std::invalid_argument);
}

TEST_CASE("jpeg_yuv: a JPEG whose header TurboJPEG refuses does not spoil the next file on that thread") {
  // TurboJPEG 2.1 leaves its decompressor in libjpeg's error state after a failed
  // header read, and then refuses every later file on the same instance; each thread
  // keeps one instance, so it must be replaced after an error.
  const Bytes good = encode_jpeg(test_card(96, 64), TJSAMP_420);
  Bytes bogus = good;
  constexpr std::uint8_t kDht[] = {0xFF, 0xC4};
  const auto dht = std::search(bogus.begin(), bogus.end(), std::begin(kDht), std::end(kDht));
  REQUIRE(dht != bogus.end());
  dht[5] = 0xFF;  // 255 codes of length 1: "Bogus Huffman table definition"
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    CHECK_FALSE(read_yuv_header(bogus).has_value());
    const auto header = read_yuv_header(good);
    REQUIRE(header.has_value());
    CHECK(header->width == 96);
    CHECK_THROWS_AS(run(Pipeline::yuv, bogus, sized(48, std::nullopt)), ImageError);
    const PipelineResult after = run(Pipeline::yuv, good, sized(48, std::nullopt));
    CHECK(after.used == Pipeline::yuv);
    CHECK(after.transformed.width == 48);
  }
}

TEST_CASE("jpeg_yuv: read_yuv_header refuses grey, CMYK and RGB JPEGs") {
  CHECK_FALSE(read_yuv_header(load("pillow/hopper_gray.jpg")).has_value());
  CHECK_FALSE(read_yuv_header(load("pillow/pil_sample_cmyk.jpg")).has_value());
  CHECK(read_yuv_header(load("pillow/hopper.jpg")).has_value());
  const Bytes not_jpeg = {1, 2, 3, 4};
  CHECK_FALSE(read_yuv_header(not_jpeg).has_value());
}
