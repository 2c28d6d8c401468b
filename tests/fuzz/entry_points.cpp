// The fuzz entry points; see entry_points.hpp.
#include "entry_points.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include <opencv2/core.hpp>

#include "jpeg_restart.hpp"
#include "jpeg_split_decode.hpp"
#include "jpeg_yuv.hpp"
#include "pixelmill/imaging/geometry.hpp"
#include "pixelmill/imaging/image_error.hpp"
#include "pixelmill/imaging/probe.hpp"
#include "pixelmill/imaging/transform.hpp"
#include "pixelmill/server/http_error.hpp"
#include "pixelmill/server/image_params.hpp"
#include "pixelmill/server/multipart.hpp"

namespace pixelmill::fuzz {
namespace {

// abort(), not an exception: the entry points' callers must not be able to swallow it.
void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

std::string_view as_text(Input data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// Problem details go to clients and logs: one line, control characters escaped
// (config::quote's contract; bytes >= 0x80 pass, so UTF-8 values stay readable).
bool printable(std::string_view text) {
  return !text.empty() && std::none_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

// imaging's messages are written by us and by libjpeg/libpng/libtiff: ASCII only.
bool printable_ascii(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= ' ' && c <= '~'; });
}

void require_bad_request(const server::HttpError& e, std::string_view slug) {
  require(e.status() == server::http::status::bad_request, "parser error is not a 400");
  require(e.slug() == slug, "parser error has the wrong slug");
  require(printable(e.detail()), "problem detail is empty or has control characters");
}

// The input up to the first '\n', and the rest.
std::pair<std::string_view, std::string_view> split_line(Input data) {
  const std::string_view text = as_text(data);
  const auto newline = text.find('\n');
  if (newline == std::string_view::npos) return {text, {}};
  return {text.substr(0, newline), text.substr(newline + 1)};
}

bool valid_probe(const imaging::ProbeResult& r) {
  return r.orientation >= 1 && r.orientation <= 8 && r.channels >= 0 && r.bits_per_sample >= 0;
}

imaging::TransformOptions decode_options(Input data) {
  constexpr imaging::OutputFormat formats[] = {imaging::OutputFormat::jpeg, imaging::OutputFormat::png,
                                              imaging::OutputFormat::webp};
  const unsigned pick = data.empty() ? 0 : data.back();
  imaging::TransformOptions options;
  options.width = 48;
  if ((pick / 15) % 2 == 0) options.height = 32;
  options.fit = static_cast<imaging::Fit>(pick % 5);
  options.format = formats[(pick / 5) % 3];
  options.max_output_dimension = 256;
  return options;
}

// The image's samples of two decodes at w x h: Y within the image (its padding is
// the decoder's filler), all of Cb and Cr.
bool same_samples(const imaging::YuvPlanes& a, const imaging::YuvPlanes& b, int w, int h) {
  const cv::Rect image(0, 0, w, h);
  return cv::norm(a.y(image), b.y(image), cv::NORM_INF) == 0 && cv::norm(a.cb, b.cb, cv::NORM_INF) == 0 &&
         cv::norm(a.cr, b.cr, cv::NORM_INF) == 0;
}

}  // namespace

void probe_one(Input data) {
  imaging::ProbeResult result;
  try {
    result = imaging::probe(data);
  } catch (const imaging::ImageError& e) {
    // Only libjpeg's hard 65500-pixel maximum is over_limit in probe itself.
    require(e.kind() != imaging::ImageError::Kind::over_limit ||
                (data.size() >= 2 && data[0] == 0xFF && data[1] == 0xD8),
            "probe: over_limit for a non-JPEG");
    require(printable_ascii(e.what()), "probe: message is empty or not printable ASCII");
    return;
  }
  require(valid_probe(result), "probe: result out of range");
  try {
    imaging::check_limits(result, {});
  } catch (const imaging::ImageError& e) {
    require(e.kind() == imaging::ImageError::Kind::over_limit, "check_limits: not over_limit");
    return;
  }
  require(result.width > 0 && result.height > 0 && result.pixel_count() <= 50'000'000,
          "check_limits passed an image over the limits");
}

void decode_one(Input data) {
  // Small limits: a liar within them costs at most a few MB and milliseconds.
  const imaging::SourceLimits limits{.max_source_pixels = 2'000'000, .max_source_dimension = 4096};
  const imaging::TransformOptions options = decode_options(data);
  imaging::Transformed out;
  try {
    out = imaging::transform(data, options, limits);
  } catch (const imaging::ImageError& e) {
    require(printable_ascii(e.what()), "transform: message is empty or not printable ASCII");
    return;
  } catch (const imaging::GeometryError&) {
    return;  // a valid source whose aspect ratio makes the output too large
  }
  require(out.width > 0 && out.height > 0 && out.width <= 256 && out.height <= 256,
          "transform: output size out of range");
  require(out.format == options.format, "transform: wrong output format");
  // The encoded output must itself be a well-formed image of the reported size.
  const imaging::ProbeResult encoded = imaging::probe(std::span<const std::uint8_t>(out.bytes));
  require(encoded.width == static_cast<std::uint32_t>(out.width) &&
              encoded.height == static_cast<std::uint32_t>(out.height),
          "transform: encoded size differs from the reported one");
}

void restart_one(Input data) {
  const auto layout = imaging::restart_layout(data);
  if (!layout) return;
  require(layout->width > 0 && layout->height > 0, "restart: empty image accepted");
  require(layout->restart_interval > 0, "restart: no restart interval");
  require(layout->eoi_offset + 2 <= data.size(), "restart: EOI out of bounds");
  const int count = 1 + (data.back() % 5);
  const auto bands = imaging::split_at_restarts(data, *layout, count);
  require(!bands.empty() && static_cast<int>(bands.size()) <= count, "restart: band count");
  int row = 0;
  for (const auto& band : bands) {
    require(band.first_row == row && band.rows > 0, "restart: bands do not tile");
    row += band.rows;
    const auto own = imaging::restart_layout(band.jpeg);
    require(own.has_value(), "restart: a band is not splittable");
    require(own->height == band.rows && own->width == layout->width, "restart: band size");
  }
  require(row == layout->height, "restart: bands do not cover the image");

  // The product's decode, at 1/8 and only for small images: cheap per input.
  if (std::int64_t{layout->width} * layout->height > 4'000'000) return;
  const auto header = imaging::read_yuv_header(data);
  if (!header) return;
  const int w = (header->width + 7) / 8, h = (header->height + 7) / 8;
  imaging::YuvPlanes whole = imaging::allocate_yuv_planes(w, h, header->subsampling);
  try {
    if (!imaging::decode_yuv_into(data, w, h, whole.view())) return;
  } catch (const imaging::ImageError&) {
    return;
  }
  imaging::YuvPlanes joined = imaging::allocate_yuv_planes(w, h, header->subsampling);
  // The bands hold the whole file's bytes: what decoded cleanly whole decodes cleanly
  // in bands, to the same samples.
  require(imaging::decode_bands_into(bands, 8, w, header->subsampling, joined.view()),
          "restart: a band warned where the whole file did not");
  require(same_samples(whole, joined, w, h), "restart: bands decode differently from the whole file");
}

// One split decode of `data` at 1/scale; see split_one.
void split_decode_one(Input data, const imaging::RestartLayout& layout, const imaging::JpegYuvHeader& header,
                      int scale, const imaging::SplitDecodeOptions& options) {
  const int w = (header.width + scale - 1) / scale, h = (header.height + scale - 1) / scale;
  imaging::YuvPlanes split = imaging::allocate_yuv_planes(w, h, header.subsampling);
  split.y = 11, split.cb = 12, split.cr = 13;  // a sample never written cannot compare equal
  if (!imaging::decode_split_into(data, layout, scale, w, h, header.subsampling, options, split.view())) return;

  // Taken: libjpeg must decode the file without a warning, to the same samples.
  imaging::YuvPlanes whole = imaging::allocate_yuv_planes(w, h, header.subsampling);
  bool clean = false;
  try {
    clean = imaging::decode_yuv_into(data, w, h, whole.view());
  } catch (const imaging::ImageError&) {
    clean = false;
  }
  require(clean, "split: took a file libjpeg warns about or refuses");
  require(same_samples(whole, split, w, h), "split: planes differ from libjpeg's");
}

void split_one(Input data) {
  const auto layout = imaging::scan_layout(data);
  if (!layout) return;
  require(layout->width > 0 && layout->height > 0, "split: empty image accepted");
  require(layout->scan_start <= layout->eoi_offset && layout->eoi_offset + 2 <= data.size(),
          "split: scan out of bounds");
  const auto header = imaging::read_yuv_header(data);
  if (!header || std::int64_t{header->width} * header->height > 1'000'000) return;
  // A byte from the middle of the scan picks the segments (2..8; fewer when the data
  // is short) and the margin (256..1024 bits: small, so that a small file still splits;
  // below that most segments never meet, and the joining code would go untested).
  const unsigned pick = data[(layout->scan_start + layout->eoi_offset) / 2];
  for (const int scale : {4, 8}) {
    const imaging::SplitDecodeOptions options{.segments = 2 + static_cast<int>((pick + scale) % 7),
                                              .sync_margin_bits = 256u << ((pick / 7) % 3)};
    split_decode_one(data, *layout, *header, scale, options);
  }
}

void image_params_one(Input data) {
  const auto [query, accept] = split_line(data);
  constexpr unsigned max_dimension = 8192;
  (void)server::accepts_webp(accept);
  imaging::TransformOptions options;
  try {
    options = server::parse_transform_params(query, accept, max_dimension);
  } catch (const server::HttpError& e) {
    require_bad_request(e, "bad-parameter");
    return;
  }
  const auto in_range = [](const std::optional<int>& side) {
    return !side || (*side >= 1 && *side <= static_cast<int>(max_dimension));
  };
  require(in_range(options.width) && in_range(options.height), "params: w/h out of range");
  require(options.quality >= 1 && options.quality <= 100, "params: quality out of range");
  require(options.max_output_dimension == static_cast<int>(max_dimension), "params: max changed");
  const std::string canonical = server::canonical_params(options);
  require(canonical.find_first_of(" \r\n") == std::string::npos, "params: canonical form has spaces");
}

void multipart_one(Input data) {
  const auto [content_type, body] = split_line(data);
  const auto boundary = server::boundary_of(content_type);
  std::string_view required;
  try {
    required = server::require_boundary(content_type);
  } catch (const server::HttpError& e) {
    require(!boundary, "multipart: boundary_of and require_boundary disagree");
    require_bad_request(e, "bad-multipart");
    return;
  }
  require(boundary && *boundary == required, "multipart: boundary_of and require_boundary disagree");
  try {
    const server::FilePart part = server::find_file_part(body, required);
    const auto* begin = body.data();
    const auto* end = body.data() + body.size();
    require(part.content.data() >= begin && part.content.data() + part.content.size() <= end,
            "multipart: the part is not inside the body");
  } catch (const server::HttpError& e) {
    require_bad_request(e, "bad-multipart");
  }
}

}  // namespace pixelmill::fuzz
