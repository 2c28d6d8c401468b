// The decode -> resize -> encode pipeline over OpenCV. See transform.hpp.
#include "pixelmill/imaging/transform.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <climits>
#include <string>
#include <utility>

#include "tiff_orientation.hpp"

namespace pixelmill::imaging {

// ---------------------------------------------------------------- small parsers

std::optional<OutputFormat> parse_output_format(std::string_view text) noexcept {
  if (text == "jpeg" || text == "jpg") return OutputFormat::jpeg;
  if (text == "png") return OutputFormat::png;
  if (text == "webp") return OutputFormat::webp;
  if (text == "auto") return OutputFormat::auto_;
  return std::nullopt;
}

std::string_view to_string(OutputFormat format) noexcept {
  switch (format) {
    case OutputFormat::jpeg: return "jpeg";
    case OutputFormat::png: return "png";
    case OutputFormat::webp: return "webp";
    case OutputFormat::auto_: return "auto";
  }
  return "auto";
}

std::string_view mime_type(OutputFormat format) noexcept {
  switch (format) {
    case OutputFormat::jpeg: return "image/jpeg";
    case OutputFormat::png: return "image/png";
    case OutputFormat::webp: return "image/webp";
    case OutputFormat::auto_: return "";
  }
  return "";
}

std::string_view to_string(Stage stage) noexcept {
  switch (stage) {
    case Stage::probe: return "probe";
    case Stage::decode: return "decode";
    case Stage::resize: return "resize";
    case Stage::encode: return "encode";
  }
  return "unknown";
}

namespace {

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<Rgba> parse_colour(std::string_view text) noexcept {
  if (text == "white") return Rgba{255, 255, 255, 255};
  if (text == "black") return Rgba{0, 0, 0, 255};
  if (text == "transparent") return Rgba{0, 0, 0, 0};
  if (!text.empty() && text.front() == '#') text.remove_prefix(1);
  if (text.size() != 3 && text.size() != 6 && text.size() != 8) return std::nullopt;
  int digits[8] = {};
  for (std::size_t i = 0; i < text.size(); ++i) {
    digits[i] = hex_digit(text[i]);
    if (digits[i] < 0) return std::nullopt;
  }
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(digits[i] * 16 + digits[i + 1]); };
  if (text.size() == 3) {
    return Rgba{static_cast<std::uint8_t>(digits[0] * 17), static_cast<std::uint8_t>(digits[1] * 17),
                static_cast<std::uint8_t>(digits[2] * 17), 255};
  }
  return Rgba{byte(0), byte(2), byte(4), text.size() == 8 ? byte(6) : std::uint8_t{255}};
}

OutputFormat resolve_output_format(OutputFormat requested, bool accepts_webp,
                                   bool source_has_alpha) noexcept {
  if (requested != OutputFormat::auto_) return requested;
  if (accepts_webp) return OutputFormat::webp;
  return source_has_alpha ? OutputFormat::png : OutputFormat::jpeg;
}

// ---------------------------------------------------------------- pipeline steps

namespace {

using Clock = std::chrono::steady_clock;

// WebP's hard limit per side (libwebp WEBP_MAX_DIMENSION).
constexpr int kWebpMaxDimension = 16383;

[[noreturn]] void throw_undecodable(const ProbeResult& source, const std::string& why) {
  throw ImageError(ImageError::Kind::undecodable,
                   std::string("the ") + std::string(to_string(source.format)) +
                       " image could not be decoded: " + why);
}

int imread_flags(ImageFormat format, int shrink) {
  if (format != ImageFormat::jpeg) {
    // Keeps alpha, bit depth and grey as stored; normalised below. OpenCV never applies
    // EXIF orientation for IMREAD_UNCHANGED (and -1 | IMREAD_IGNORE_ORIENTATION == -1).
    return cv::IMREAD_UNCHANGED;
  }
  // JPEG has no alpha: decode straight to 8-bit BGR (grey and CMYK converted by OpenCV),
  // at 1/shrink scale with libjpeg's DCT scaling.
  int colour = cv::IMREAD_COLOR;
  switch (shrink) {
    case 2: colour = cv::IMREAD_REDUCED_COLOR_2; break;
    case 4: colour = cv::IMREAD_REDUCED_COLOR_4; break;
    case 8: colour = cv::IMREAD_REDUCED_COLOR_8; break;
    default: break;
  }
  return colour | cv::IMREAD_IGNORE_ORIENTATION;
}

// libjpeg only *warns* about a JPEG that ends early ("Premature end of JPEG file") and
// OpenCV then returns the image with the missing part filled grey. Walk the marker
// segments (skipping APPn payloads such as EXIF thumbnails by their length, and the
// entropy-coded data after each SOS) and require the EOI marker before the end of the
// data. Trailing bytes after EOI (e.g. an MPF secondary image) are allowed. `scans`,
// when given, counts the SOS markers seen.
bool jpeg_has_eoi(std::span<const std::uint8_t> b, int* scans = nullptr) noexcept {
  const std::size_t n = b.size();
  std::size_t pos = 2;  // after SOI
  while (pos < n) {
    if (b[pos] != 0xFF) {  // stray bytes between segments: libjpeg skips them too
      ++pos;
      continue;
    }
    while (pos < n && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) return false;
    const std::uint8_t marker = b[pos++];
    if (marker == 0xD9) return true;                                   // EOI
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // standalone
    if (pos + 2 > n) return false;
    const std::size_t length = (std::size_t{b[pos]} << 8) | b[pos + 1];
    if (length < 2) return false;
    pos += length;
    if (marker != 0xDA) continue;
    if (scans != nullptr) ++*scans;
    // Entropy-coded data: runs until a 0xFF that is not stuffing (FF 00) or RSTn.
    while (pos < n) {
      if (b[pos] != 0xFF) {
        ++pos;
        continue;
      }
      if (pos + 1 >= n) return false;
      const std::uint8_t next = b[pos + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
        pos += 2;
      } else if (next == 0xFF) {
        ++pos;
      } else {
        break;  // a marker: handled by the outer loop
      }
    }
  }
  return false;
}

// OpenCV 4.6 applies a TIFF's Orientation tag itself, even for IMREAD_UNCHANGED (and
// garbles it for tiled RGBA: libtiff's RGBA reader flips within tiles). A copy tagged 1
// decodes to the raw pixels on every path, so orient() applies the tag exactly once (not
// at all for orient=false), as for every other format. One memcpy of the file, only for
// TIFFs not tagged 1.
std::vector<std::uint8_t> tiff_tagged_upright(std::span<const std::uint8_t> bytes, const ProbeResult& source) {
  std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
  if (!reset_orientation(copy)) throw_undecodable(source, "its Orientation tag is unreadable");
  return copy;
}

// OpenCV's PNG decoder reads every ancillary chunk with libpng's defaults: it inflates
// each zTXt/iTXt/iCCP (up to 8 MB apiece, ~1000 of them) and allocates an eXIf chunk's
// declared length (up to 2 GB) — a few KB of upload can cost seconds of CPU or GBs of
// address space (found with the text-chunk bomb and fuzz_decode). Of the ancillary
// chunks only tRNS changes the pixels OpenCV returns, so the decoder gets a copy of the
// critical chunks and tRNS. Where a chunk runs past the end, the copy ends (with that
// chunk's start, if critical): the decoder reports the truncation.
std::vector<std::uint8_t> png_pixels_only(std::span<const std::uint8_t> b) {
  constexpr std::size_t signature = 8, overhead = 12;  // length, type, CRC
  const auto at = [&](std::size_t pos) { return b.begin() + static_cast<std::ptrdiff_t>(pos); };
  std::vector<std::uint8_t> out(b.begin(), at(std::min(b.size(), signature)));
  for (std::size_t pos = signature; pos + 8 <= b.size();) {
    const std::size_t length = std::size_t{b[pos]} << 24 | std::size_t{b[pos + 1]} << 16 |
                               std::size_t{b[pos + 2]} << 8 | b[pos + 3];
    const auto type = b.subspan(pos + 4, 4);
    const bool keep = (type[0] & 0x20) == 0 || std::equal(type.begin(), type.end(), "tRNS");  // critical: uppercase
    if (b.size() - pos < overhead || length > b.size() - pos - overhead) {
      if (keep) out.insert(out.end(), at(pos), b.end());
      break;
    }
    if (keep) out.insert(out.end(), at(pos), at(pos + overhead + length));
    if (std::equal(type.begin(), type.end(), "IEND")) break;
    pos += overhead + length;
  }
  return out;
}

// libjpeg decodes every scan over the whole coefficient buffer, even an empty one: a
// progressive JPEG of 16 MP plus 10,000 ten-byte empty scans (1.6 MB) kept a CPU
// thread busy for minutes. Encoders write about 10 scans (libjpeg's progression; a
// few dozen at most), so more than this is refused before decoding, as libjpeg-turbo
// advises (djpeg -maxscans, TJPARAM_SCANLIMIT).
constexpr int kMaxJpegScans = 100;

void check_jpeg_scans(std::span<const std::uint8_t> bytes, const ProbeResult& source) {
  if (source.format != ImageFormat::jpeg) return;
  int scans = 0;
  (void)jpeg_has_eoi(bytes, &scans);
  if (scans > kMaxJpegScans) {
    throw ImageError(ImageError::Kind::over_limit,
                     "the JPEG has " + std::to_string(scans) + " scans, over the limit of " +
                         std::to_string(kMaxJpegScans));
  }
}

cv::Mat decode_raw(std::span<const std::uint8_t> bytes, const ProbeResult& source, int shrink) {
  std::vector<std::uint8_t> upright;
  if (source.format == ImageFormat::tiff && source.orientation != 1) {
    upright = tiff_tagged_upright(bytes, source);
    bytes = upright;
  }
  std::vector<std::uint8_t> pixels_only;
  if (source.format == ImageFormat::png) {
    pixels_only = png_pixels_only(bytes);
    bytes = pixels_only;
  }
  // A header over the caller's bytes: imdecode only reads them.
  const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1,
                       const_cast<std::uint8_t*>(bytes.data()));
  cv::Mat image;
  try {
    image = cv::imdecode(buffer, imread_flags(source.format, shrink));
  } catch (const cv::Exception&) {
    throw_undecodable(source, "the image data is corrupt or truncated");
  }
  if (image.empty()) throw_undecodable(source, "the image data is corrupt or truncated");
  if (source.format == ImageFormat::jpeg && !jpeg_has_eoi(bytes)) {
    throw_undecodable(source, "the image data is truncated (no end-of-image marker)");
  }
  return image;
}

// Any decoded Mat -> 8-bit BGR (3 channels) or BGRA (4 channels).
cv::Mat to_8bit_bgr_or_bgra(cv::Mat image, const ProbeResult& source) {
  switch (image.depth()) {
    case CV_8U: break;
    case CV_16U: image.convertTo(image, CV_8U, 1.0 / 257.0); break;
    case CV_32F:
    case CV_64F: image.convertTo(image, CV_8U, 255.0); break;  // float images are 0..1
    default: throw_undecodable(source, "unsupported sample format");
  }
  switch (image.channels()) {
    case 1: {
      cv::Mat bgr;
      cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
      return bgr;
    }
    case 2: {  // grey + alpha
      cv::Mat planes[2];
      cv::split(image, planes);
      const cv::Mat four[4] = {planes[0], planes[0], planes[0], planes[1]};
      cv::Mat bgra;
      cv::merge(four, 4, bgra);
      return bgra;
    }
    case 3:
    case 4: return image;
    default: throw_undecodable(source, "unsupported number of channels");
  }
}

// OpenCV's PNG decoder drops a grey image's tRNS colour key (it keeps palette and RGB
// keys as alpha). The decoded samples map one-to-one to the file's: 16-bit as stored,
// 1/2/4-bit scaled to 8 bits by libpng's bit replication (x * 255 / (2^depth - 1)), so
// the key, scaled the same way, matches exactly the keyed pixels. Empty if no key.
cv::Mat colour_key_alpha(const cv::Mat& grey, const ProbeResult& source) {
  if (!source.transparent_grey || grey.channels() != 1) return {};
  double key = *source.transparent_grey;
  if (source.bits_per_sample < 8) key *= 255.0 / ((1 << source.bits_per_sample) - 1);
  cv::Mat alpha;
  cv::compare(grey, key, alpha, cv::CMP_NE);  // 8-bit: 0 on the key, 255 elsewhere
  return alpha;
}

cv::Mat with_alpha(const cv::Mat& bgr, const cv::Mat& alpha) {
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  cv::insertChannel(alpha, bgra, 3);
  return bgra;
}

// BGRA -> BGR composited over `background` (straight alpha).
cv::Mat flatten(const cv::Mat& bgra, Rgba background) {
  CV_Assert(bgra.type() == CV_8UC4);
  cv::Mat bgr(bgra.size(), CV_8UC3);
  const int bg[3] = {background.b, background.g, background.r};
  cv::parallel_for_(cv::Range(0, bgra.rows), [&](const cv::Range& rows) {
    for (int y = rows.start; y < rows.end; ++y) {
      const std::uint8_t* in = bgra.ptr<std::uint8_t>(y);
      std::uint8_t* out = bgr.ptr<std::uint8_t>(y);
      for (int x = 0; x < bgra.cols; ++x, in += 4, out += 3) {
        const int a = in[3];
        for (int c = 0; c < 3; ++c) {
          out[c] = static_cast<std::uint8_t>((in[c] * a + bg[c] * (255 - a) + 127) / 255);
        }
      }
    }
  });
  return bgr;
}

int interpolation(Kernel kernel) {
  switch (kernel) {
    // _EXACT samples each output pixel's centre (as PIL and Matlab do); INTER_NEAREST
    // takes the top-left source pixel of each block, shifting the image.
    case Kernel::nearest: return cv::INTER_NEAREST_EXACT;
    case Kernel::linear: return cv::INTER_LINEAR;
    case Kernel::cubic: return cv::INTER_CUBIC;
    case Kernel::area: return cv::INTER_AREA;
    case Kernel::lanczos: return cv::INTER_LANCZOS4;
  }
  return cv::INTER_AREA;
}

cv::Mat resize_to(const cv::Mat& image, cv::Size target, std::optional<Kernel> kernel) {
  if (image.size() == target) return image;
  cv::Mat out;
  if (kernel) {
    cv::resize(image, out, target, 0, 0, interpolation(*kernel));
    return out;
  }
  const bool shrink_x = target.width < image.cols, shrink_y = target.height < image.rows;
  const bool grow_x = target.width > image.cols, grow_y = target.height > image.rows;
  if ((shrink_x || shrink_y) && (grow_x || grow_y)) {
    // One axis shrinks, the other grows (fill): area-average the shrinking axis,
    // then interpolate the growing one.
    cv::Mat half;
    const cv::Size first(shrink_x ? target.width : image.cols, shrink_y ? target.height : image.rows);
    cv::resize(image, half, first, 0, 0, cv::INTER_AREA);
    cv::resize(half, out, target, 0, 0, cv::INTER_CUBIC);
  } else {
    cv::resize(image, out, target, 0, 0, (grow_x || grow_y) ? cv::INTER_CUBIC : cv::INTER_AREA);
  }
  return out;
}

cv::Mat orient(const cv::Mat& image, OrientOps ops) {
  if (ops.rotate_cw == 180 && ops.flip_horizontal) {  // 4: a vertical mirror
    cv::Mat out;
    cv::flip(image, out, 0);
    return out;
  }
  cv::Mat out = image;
  switch (ops.rotate_cw) {
    case 90: cv::rotate(image, out, cv::ROTATE_90_CLOCKWISE); break;
    case 180: cv::rotate(image, out, cv::ROTATE_180); break;
    case 270: cv::rotate(image, out, cv::ROTATE_90_COUNTERCLOCKWISE); break;
    default: break;
  }
  if (ops.flip_horizontal) {
    cv::Mat flipped;
    cv::flip(out, flipped, 1);
    return flipped;
  }
  return out;
}

std::vector<std::uint8_t> encode(const cv::Mat& image, OutputFormat format, int quality) {
  const char* ext = ".jpg";
  std::vector<int> params;
  switch (format) {
    case OutputFormat::jpeg:
      ext = ".jpg";
      params = {cv::IMWRITE_JPEG_QUALITY, quality, cv::IMWRITE_JPEG_OPTIMIZE, 0,
                cv::IMWRITE_JPEG_PROGRESSIVE, 0};
      break;
    case OutputFormat::png:
      ext = ".png";
      params = {cv::IMWRITE_PNG_COMPRESSION, 6};
      break;
    case OutputFormat::webp:
      ext = ".webp";
      params = {cv::IMWRITE_WEBP_QUALITY, quality};  // 1..100: lossy
      break;
    case OutputFormat::auto_: CV_Error(cv::Error::StsBadArg, "unresolved output format");
  }
  std::vector<std::uint8_t> bytes;
  if (!cv::imencode(ext, image, bytes, params) || bytes.empty()) {
    throw std::runtime_error("encoding the " + std::string(to_string(format)) + " output failed");
  }
  return bytes;
}

class StageTimer {
 public:
  explicit StageTimer(const StageObserver& observe) : observe_(observe), start_(Clock::now()) {}
  void done(Stage stage) {
    const auto now = Clock::now();
    if (observe_) observe_(stage, std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_));
    start_ = Clock::now();
  }

 private:
  const StageObserver& observe_;
  Clock::time_point start_;
};

}  // namespace

// ---------------------------------------------------------------- transform

Transformed transform(std::span<const std::uint8_t> bytes, const TransformOptions& options,
                      const SourceLimits& limits, const StageObserver& observe) {
  StageTimer timer(observe);

  // --- probe: header only, limits before any pixel is allocated, then the plan.
  const ProbeResult source = probe(std::span<const unsigned char>(bytes.data(), bytes.size()));
  check_limits(source, limits);
  if (bytes.size() > static_cast<std::size_t>(INT_MAX) ||
      source.width > static_cast<std::uint32_t>(INT_MAX) ||
      source.height > static_cast<std::uint32_t>(INT_MAX)) {
    throw ImageError(ImageError::Kind::over_limit, "the image is too large to decode");
  }
  const OutputFormat format =
      resolve_output_format(options.format, options.accepts_webp, source.has_alpha);
  const bool output_has_alpha = format != OutputFormat::jpeg;
  const int quality = std::clamp(options.quality, 1, 100);

  GeometryRequest request;
  request.source = {static_cast<int>(source.width), static_cast<int>(source.height)};
  request.orientation = options.orient ? source.orientation : 1;
  request.width = options.width;
  request.height = options.height;
  request.fit = options.fit;
  request.position = options.position;
  request.enlarge = options.enlarge;
  request.decoder_can_shrink = source.format == ImageFormat::jpeg;
  request.max_output_dimension = options.max_output_dimension;
  GeometryPlan plan = plan_geometry(request);
  if (format == OutputFormat::webp &&
      (plan.output.width > kWebpMaxDimension || plan.output.height > kWebpMaxDimension)) {
    throw ImageError(ImageError::Kind::over_limit,
                     "the output would be " + std::to_string(plan.output.width) + "x" +
                         std::to_string(plan.output.height) + ", over WebP's limit of " +
                         std::to_string(kWebpMaxDimension) + " pixels per side");
  }
  check_jpeg_scans(bytes, source);
  timer.done(Stage::probe);

  // --- decode: raw pixels (orientation ignored), JPEG at 1/shrink_on_load.
  cv::Mat image = decode_raw(bytes, source, plan.shrink_on_load);
  if (image.cols != plan.decoded.width || image.rows != plan.decoded.height) {
    if (plan.shrink_on_load == 1) {
      throw_undecodable(source, "the decoded size " + std::to_string(image.cols) + "x" +
                                    std::to_string(image.rows) + " differs from the header's " +
                                    std::to_string(source.width) + "x" +
                                    std::to_string(source.height));
    }
    // The decoder scaled differently than planned: decode in full instead.
    image.release();
    request.decoder_can_shrink = false;
    plan = plan_geometry(request);
    image = decode_raw(bytes, source, 1);
    if (image.cols != plan.decoded.width || image.rows != plan.decoded.height) {
      throw_undecodable(source, "the decoded size differs from the header's");
    }
  }
  const cv::Mat key_alpha = colour_key_alpha(image, source);
  image = to_8bit_bgr_or_bgra(std::move(image), source);
  if (!key_alpha.empty()) image = with_alpha(image, key_alpha);
  timer.done(Stage::decode);

  // --- resize: flatten (JPEG) -> resize -> orient -> crop -> pad.
  if (image.channels() == 4 && !output_has_alpha) {
    image = flatten(image, options.background);  // before resizing: 3 channels are cheaper
  }
  const bool premultiplied = image.channels() == 4 && plan.needs_resize();
  if (premultiplied) {
    // Resample premultiplied so transparent pixels' hidden colour does not bleed in.
    cv::cvtColor(image, image, cv::COLOR_RGBA2mRGBA);
  }
  const cv::Size raw_target = plan.swaps_axes ? cv::Size(plan.resize.height, plan.resize.width)
                                              : cv::Size(plan.resize.width, plan.resize.height);
  image = resize_to(image, raw_target, options.kernel);
  if (premultiplied) cv::cvtColor(image, image, cv::COLOR_mRGBA2RGBA);
  image = orient(image, plan.orient);
  CV_Assert(image.cols == plan.resize.width && image.rows == plan.resize.height);
  if (plan.needs_crop()) {
    image = image(cv::Rect(plan.crop.x, plan.crop.y, plan.crop.width, plan.crop.height));
  }
  if (plan.needs_padding()) {
    const Rgba bg = options.background;
    if (output_has_alpha && bg.a != 255 && image.channels() == 3) {
      cv::Mat bgra;
      cv::cvtColor(image, bgra, cv::COLOR_BGR2BGRA);
      image = bgra;
    }
    const cv::Scalar fill = image.channels() == 4 ? cv::Scalar(bg.b, bg.g, bg.r, bg.a)
                                                  : cv::Scalar(bg.b, bg.g, bg.r);
    cv::Mat canvas(plan.output.height, plan.output.width, image.type(), fill);
    image.copyTo(canvas(cv::Rect(plan.placement.x, plan.placement.y, plan.placement.width,
                                 plan.placement.height)));
    image = canvas;
  }
  CV_Assert(image.cols == plan.output.width && image.rows == plan.output.height);
  timer.done(Stage::resize);

  // --- encode: no metadata is written by OpenCV's encoders.
  Transformed result;
  result.bytes = encode(image, format, quality);
  result.format = format;
  result.width = image.cols;
  result.height = image.rows;
  result.source = source;
  result.shrink_on_load = plan.shrink_on_load;
  result.channels = image.channels();
  timer.done(Stage::encode);
  return result;
}

}  // namespace pixelmill::imaging
