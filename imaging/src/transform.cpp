// The decode -> resize -> encode pipeline over OpenCV. See transform.hpp.
#include "pixelmill/imaging/transform.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "area_shrink.hpp"
#include "jpeg_restart.hpp"
#include "jpeg_split_decode.hpp"
#include "jpeg_yuv.hpp"
#include "parallel_tasks.hpp"
#include "tiff_orientation.hpp"
#include "transform_pipeline.hpp"

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
// data. Trailing bytes after EOI (e.g. an MPF secondary image) are allowed. One pass
// counts the scans (SOS markers) too: the file is read once, before decoding.
struct JpegMarkers {
  int scans = 0;
  bool has_eoi = false;
};

JpegMarkers walk_jpeg_markers(std::span<const std::uint8_t> b) noexcept {
  JpegMarkers found;
  const std::size_t n = b.size();
  std::size_t pos = 2;  // after SOI
  while (pos < n) {
    if (b[pos] != 0xFF) {  // stray bytes between segments: libjpeg skips them too
      ++pos;
      continue;
    }
    while (pos < n && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) return found;
    const std::uint8_t marker = b[pos++];
    if (marker == 0xD9) {  // EOI
      found.has_eoi = true;
      return found;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // standalone
    if (pos + 2 > n) return found;
    const std::size_t length = (std::size_t{b[pos]} << 8) | b[pos + 1];
    if (length < 2) return found;
    pos += length;
    if (marker != 0xDA) continue;
    ++found.scans;
    // Entropy-coded data: runs until a 0xFF that is not stuffing (FF 00) or RSTn.
    // memchr: this is most of the file, and the walk runs before every decode.
    while (pos < n) {
      const void* ff = std::memchr(b.data() + pos, 0xFF, n - pos);
      if (ff == nullptr) return found;
      pos = static_cast<std::size_t>(static_cast<const std::uint8_t*>(ff) - b.data());
      if (pos + 1 >= n) return found;
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
  return found;
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

// Before decoding, on both pipelines: the scan limit, then the EOI marker.
void check_jpeg_markers(std::span<const std::uint8_t> bytes, const ProbeResult& source) {
  if (source.format != ImageFormat::jpeg) return;
  const JpegMarkers markers = walk_jpeg_markers(bytes);
  if (markers.scans > kMaxJpegScans) {
    throw ImageError(ImageError::Kind::over_limit,
                     "the JPEG has " + std::to_string(markers.scans) + " scans, over the limit of " +
                         std::to_string(kMaxJpegScans));
  }
  if (!markers.has_eoi) throw_undecodable(source, "the image data is truncated (no end-of-image marker)");
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

// INTER_AREA to `target`: the fixed-point shrink where it applies (area_shrink.hpp,
// faster), else cv::resize's.
cv::Mat area_resize(const cv::Mat& image, cv::Size target) {
  if (image.size() == target) return image;
  if (auto shrunk = area_shrink(image, target)) return std::move(*shrunk);
  cv::Mat out;
  cv::resize(image, out, target, 0, 0, cv::INTER_AREA);
  return out;
}

cv::Mat resize_to(const cv::Mat& image, cv::Size target, std::optional<Kernel> kernel) {
  if (image.size() == target) return image;
  if (kernel == Kernel::area) return area_resize(image, target);
  cv::Mat out;
  if (kernel) {
    cv::resize(image, out, target, 0, 0, interpolation(*kernel));
    return out;
  }
  const bool grow_x = target.width > image.cols, grow_y = target.height > image.rows;
  if (!grow_x && !grow_y) return area_resize(image, target);
  if (!grow_x || !grow_y) {
    // One axis grows, the other shrinks or stays (fill): area-average the shrinking
    // axis, then interpolate the growing one.
    const cv::Size first(grow_x ? image.cols : target.width, grow_y ? image.rows : target.height);
    cv::resize(area_resize(image, first), out, target, 0, 0, cv::INTER_CUBIC);
    return out;
  }
  cv::resize(image, out, target, 0, 0, cv::INTER_CUBIC);
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

// The BGR pipeline, from decode on: every format, every output.
Transformed transform_bgr(std::span<const std::uint8_t> bytes, const ProbeResult& source,
                          GeometryRequest request, GeometryPlan plan, const TransformOptions& options,
                          OutputFormat format, int quality, StageTimer& timer) {
  const bool output_has_alpha = format != OutputFormat::jpeg;

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

// The planar pipeline's conditions, short of what only TurboJPEG's header read tells
// (Y'CbCr, a nameable subsampling): JPEG in, JPEG out, nothing to pad (contain's
// padding is a BGR colour: the BGR pipeline paints it).
bool yuv_pipeline_applies(const ProbeResult& source, OutputFormat format, const GeometryPlan& plan) {
  return source.format == ImageFormat::jpeg && format == OutputFormat::jpeg && source.channels == 3 &&
         !source.cmyk && !plan.needs_padding();
}

// The planar pipeline's chroma geometry. Output chroma sample j of a cropped axis
// covers the output's luma pixels 2j and 2j+1 (4:2:0; for an odd size the last one
// stands alone, the encoder repeats it). That grid is carried back through the crop,
// the orientation and the resize to the source chroma plane, whose samples cover 1, 2
// or 4 decoded luma pixels and whose last ones may cover padding: the source range
// that maps onto the output's chroma is cut out (or extended by repeating its edge)
// and resized in one step. Its ends are rounded to whole source chroma samples, so the
// colour stays within half a source chroma sample of the luma: under an output pixel
// when shrinking; when enlarging, several output pixels, but within the chroma's own
// resolution (an exact sub-sample offset would need warpAffine, which has no
// INTER_AREA). The simpler way — whole planes resized, crop at floor(x / 2) — put the
// colour a pixel off for odd crop offsets and for odd sizes the orientation mirrors,
// and up to 3 source pixels off for 4:1:1 padding (14..80 levels from the BGR
// pipeline on test_jpeg_yuv's test card).

// One output axis of the uncropped, oriented, resized image: its chroma samples start
// at luma `origin` (-1 when the crop starts at an odd pixel, so that a sample starts
// exactly there; else 0) and `samples` of them cover it; the crop keeps those from
// `crop_offset` on.
struct ChromaGrid {
  int origin = 0;
  int samples = 0;
  int crop_offset = 0;
  int luma = 0;  // luma pixels of the axis
};

ChromaGrid chroma_grid(int crop_start, int luma) {
  ChromaGrid g;
  g.origin = -(crop_start % 2);
  g.samples = (luma - g.origin + 1) / 2;
  // crop_offset + ceil(crop_size / 2) = ceil((crop_start - origin + crop_size) / 2)
  // <= ceil((luma - origin) / 2) = samples.
  g.crop_offset = (crop_start - g.origin) / 2;
  g.luma = luma;
  return g;
}

// Whether orient() runs the raw x / y axis backwards (rotate clockwise, then mirror).
bool reverses_raw_x(OrientOps ops) {
  switch (ops.rotate_cw) {
    case 90: return false;
    case 180: return !ops.flip_horizontal;
    case 270: return true;
    default: return ops.flip_horizontal;
  }
}
bool reverses_raw_y(OrientOps ops) {
  switch (ops.rotate_cw) {
    case 90: return !ops.flip_horizontal;
    case 180: return true;
    case 270: return ops.flip_horizontal;
    default: return false;
  }
}

// A raw axis of a source chroma plane: samples [start, start + count) (may run past
// either end) resize to `samples` output chroma samples.
struct RawChromaAxis {
  int start = 0, count = 1, samples = 1;
};

RawChromaAxis raw_chroma_axis(const ChromaGrid& grid, bool reversed, int decoded_luma, int factor) {
  // The grid in raw resized luma pixels: [first, first + 2 * samples); reversed, its
  // far end lands on the output's origin.
  const int first = reversed ? grid.luma - grid.origin - 2 * grid.samples : grid.origin;
  // Resized luma -> decoded luma -> source chroma samples.
  const double scale = static_cast<double>(decoded_luma) / (static_cast<double>(grid.luma) * factor);
  RawChromaAxis axis;
  axis.start = static_cast<int>(std::lround(first * scale));
  const int end = static_cast<int>(std::lround((first + 2.0 * grid.samples) * scale));
  axis.count = std::max(1, end - axis.start);
  axis.samples = grid.samples;
  return axis;
}

// The plane's samples [x.start, x.start + x.count) x [y.start, ...): a view, or a copy
// with the edges repeated where the range runs past the plane.
cv::Mat source_region(const cv::Mat& plane, const RawChromaAxis& x, const RawChromaAxis& y) {
  const int x0 = std::clamp(x.start, 0, plane.cols - 1), y0 = std::clamp(y.start, 0, plane.rows - 1);
  const int x1 = std::clamp(x.start + x.count, x0 + 1, plane.cols);
  const int y1 = std::clamp(y.start + y.count, y0 + 1, plane.rows);
  const cv::Mat inside = plane(cv::Rect(x0, y0, x1 - x0, y1 - y0));
  const int left = x0 - x.start, top = y0 - y.start;
  const int right = x.start + x.count - x1, bottom = y.start + y.count - y1;
  if (left == 0 && top == 0 && right == 0 && bottom == 0) return inside;
  cv::Mat out;
  cv::copyMakeBorder(inside, out, std::max(0, top), std::max(0, bottom), std::max(0, left), std::max(0, right),
                     cv::BORDER_REPLICATE);
  // A range starting past the plane's end (tiny planes, rounding) cannot be negative
  // padding; clamp to the size asked for.
  return out(cv::Rect(0, 0, std::min(out.cols, x.count), std::min(out.rows, y.count)));
}

// Below this many source pixels one image is not worth cutting into bands: a whole
// decode takes a few milliseconds and the pool has other requests to run.
constexpr std::int64_t kBandDecodeMinPixels = 2'000'000;
// Bands per CPU thread. The pool hands bands out as threads come free, so a band that
// decodes slower (denser detail, a thread sharing its core) leaves the others idle
// for at most one band's time. Measured on the 6000x4000 benchmark image, 2 threads:
// the band decode takes 23.3 ms with 2 bands per thread, 21.5 ms with 8, 21.6 with 16
// (each band costs a decoder set-up, about 0.05 ms).
constexpr int kBandsPerThread = 8;

// The smallest shrink-on-load divisor the split Huffman decoder takes (it refuses 1/2
// and 1/1, where libjpeg's SIMD inverse DCTs beat a scalar one; BENCHMARKS.md).
constexpr int kSplitDecodeMinScale = 4;

// Decodes into `planes` (dw x dh, the source at 1/scale). A large JPEG is decoded on
// all CPU threads at once, since libjpeg's Huffman decode is serial within a stream
// and for shrink-on-load it is most of the work. At 1/4 and 1/8 the split decoder
// (jpeg_split_decode.hpp) takes any baseline Y'CbCr JPEG it reproduces exactly: at
// its restart markers when they fall at MCU-row starts, else speculatively; on one
// thread, or for a small image, as one piece, since its Huffman decode and reduced
// inverse DCTs are 1.1-1.3x faster than libjpeg's (BENCHMARKS.md). At 1/2 and 1/1 a
// large JPEG with such markers is cut into bands for TurboJPEG (jpeg_restart.hpp).
// Anything else, and whatever the split decoder leaves to libjpeg, decodes in one
// piece through TurboJPEG on this thread. `route` is set to the decoder that ran and
// the number of pieces.
bool decode_planes(std::span<const std::uint8_t> bytes, const JpegYuvHeader& header, int scale, int dw, int dh,
                   YuvPlanes& planes, JpegDecodeRoute& route) {
  const int threads = cv::getNumThreads();
  const bool large = threads > 1 && std::int64_t{header.width} * header.height >= kBandDecodeMinPixels;
  route = {};
  if (large || scale >= kSplitDecodeMinScale) {
    if (const std::optional<RestartLayout> layout = scan_layout(bytes)) {
      if (scale >= kSplitDecodeMinScale) {
        SplitDecodeStats stats;
        if (decode_split_into(bytes, *layout, scale, dw, dh, header.subsampling, {large ? threads : 1},
                              planes.view(), &stats)) {
          route = {JpegDecoder::split, stats.segments};
          return true;
        }
      }
      if (large && layout->restart_interval > 0) {
        const std::vector<JpegBand> split = split_at_restarts(bytes, *layout, kBandsPerThread * threads);
        if (split.size() > 1) {
          route = {JpegDecoder::restart_bands, static_cast<int>(split.size())};
          return decode_bands_into(split, scale, dw, header.subsampling, planes.view());
        }
      }
    }
  }
  return decode_yuv_into(bytes, dw, dh, planes.view());
}

// The JPEG -> JPEG pipeline on the stored Y'CbCr planes: TurboJPEG decodes at
// 1/shrink_on_load without upsampling the chroma or converting colours; each plane is
// resized (Y to the plan's size, Cb and Cr to its 4:2:0 chroma size), oriented and
// cropped on its own; TurboJPEG encodes 4:2:0 from the planes. The same plan, kernels
// and orientation as the BGR pipeline, a third of the pixels to resize, and no colour
// conversion either way. std::nullopt when libjpeg warned while decoding: the BGR
// pipeline then decodes the file again, with libjpeg's usual tolerance.
std::optional<Transformed> transform_yuv(std::span<const std::uint8_t> bytes, const ProbeResult& source,
                                         const JpegYuvHeader& header, const GeometryPlan& plan,
                                         const TransformOptions& options, int quality, StageTimer& timer,
                                         JpegDecodeRoute& route) {
  // --- decode: planes at their padded sizes; the views below drop the padding.
  const int dw = plan.decoded.width, dh = plan.decoded.height;
  YuvPlanes planes = allocate_yuv_planes(dw, dh, header.subsampling);
  if (!decode_planes(bytes, header, plan.shrink_on_load, dw, dh, planes, route)) return std::nullopt;
  timer.done(Stage::decode);

  // --- resize -> orient -> crop, per plane: Y to the plan's sizes, Cb and Cr (which
  // hold the whole image at their own resolution, 4:4:4 .. 4:1:1) straight to the
  // output's 4:2:0 chroma grid, resampling and resizing in one step.
  const cv::Size raw_target = plan.swaps_axes ? cv::Size(plan.resize.height, plan.resize.width)
                                              : cv::Size(plan.resize.width, plan.resize.height);
  cv::Mat y = orient(resize_to(planes.y(cv::Rect(0, 0, dw, dh)), raw_target, options.kernel), plan.orient);
  CV_Assert(y.cols == plan.resize.width && y.rows == plan.resize.height);
  const Rect c = plan.crop;
  y = y(cv::Rect(c.x, c.y, c.width, c.height));

  const ChromaGrid grid_x = chroma_grid(c.x, plan.resize.width);
  const ChromaGrid grid_y = chroma_grid(c.y, plan.resize.height);
  // The grid of each raw (unoriented) axis: the output axis it becomes, reversed or not.
  const bool reverse_x = reverses_raw_x(plan.orient), reverse_y = reverses_raw_y(plan.orient);
  const RawChromaAxis raw_x = raw_chroma_axis(plan.swaps_axes ? grid_y : grid_x, reverse_x, dw,
                                              planes.y.cols / planes.cb.cols);
  const RawChromaAxis raw_y = raw_chroma_axis(plan.swaps_axes ? grid_x : grid_y, reverse_y, dh,
                                              planes.y.rows / planes.cb.rows);
  const cv::Rect chroma_crop(grid_x.crop_offset, grid_y.crop_offset, (c.width + 1) / 2, (c.height + 1) / 2);
  const auto chroma = [&](const cv::Mat& plane) {
    const cv::Mat source = source_region(plane, raw_x, raw_y);
    const cv::Mat resized = resize_to(source, cv::Size(raw_x.samples, raw_y.samples), options.kernel);
    return orient(resized, plan.orient)(chroma_crop);
  };
  // Cb and Cr side by side: each is a quarter of Y's size or less, too small for
  // resize's own split (about one stripe per 64 K output pixels) to use two threads.
  cv::Mat cb, cr;
  parallel_tasks(2, [&](int i) { (i == 0 ? cb : cr) = chroma(i == 0 ? planes.cb : planes.cr); });
  CV_Assert(y.cols == plan.output.width && y.rows == plan.output.height);
  timer.done(Stage::resize);

  // --- encode: TurboJPEG writes no metadata either.
  Transformed result;
  result.bytes = encode_yuv420(y, cb, cr, quality);
  result.format = OutputFormat::jpeg;
  result.width = y.cols;
  result.height = y.rows;
  result.source = source;
  result.shrink_on_load = plan.shrink_on_load;
  result.channels = 3;
  timer.done(Stage::encode);
  return result;
}

}  // namespace

// ---------------------------------------------------------------- transform

Transformed transform(std::span<const std::uint8_t> bytes, const TransformOptions& options,
                      const SourceLimits& limits, const StageObserver& observe) {
  return transform_with(Pipeline::yuv, bytes, options, limits, observe).transformed;
}

PipelineResult transform_with(Pipeline preferred, std::span<const std::uint8_t> bytes,
                              const TransformOptions& options, const SourceLimits& limits,
                              const StageObserver& observe) {
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
  const GeometryPlan plan = plan_geometry(request);
  if (format == OutputFormat::webp &&
      (plan.output.width > kWebpMaxDimension || plan.output.height > kWebpMaxDimension)) {
    throw ImageError(ImageError::Kind::over_limit,
                     "the output would be " + std::to_string(plan.output.width) + "x" +
                         std::to_string(plan.output.height) + ", over WebP's limit of " +
                         std::to_string(kWebpMaxDimension) + " pixels per side");
  }
  check_jpeg_markers(bytes, source);
  timer.done(Stage::probe);

  if (preferred == Pipeline::yuv && yuv_pipeline_applies(source, format, plan)) {
    const std::optional<JpegYuvHeader> header = read_yuv_header(bytes);
    if (header && header->width == request.source.width && header->height == request.source.height) {
      JpegDecodeRoute route;
      if (auto planar = transform_yuv(bytes, source, *header, plan, options, quality, timer, route)) {
        return {std::move(*planar), Pipeline::yuv, route};
      }
    }
  }
  return {transform_bgr(bytes, source, request, plan, options, format, quality, timer), Pipeline::bgr, {}};
}

}  // namespace pixelmill::imaging
