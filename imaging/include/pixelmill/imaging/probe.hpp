#pragma once
// probe: format, dimensions and a few facts about an image from its header bytes
// alone — no pixel decode, and never an allocation proportional to the declared
// pixel count (so image bombs cost microseconds and a few KB). Then check_limits:
// the source limits, enforced before any decode.
//
// Accepted formats, recognised by magic bytes only (never by name or Content-Type):
// JPEG, PNG, WebP (still images), TIFF, BMP. Everything else — GIF, AVIF/HEIF,
// JPEG 2000, JPEG XL, OpenEXR, Radiance HDR, PNM/PFM, Sun raster, DICOM, SVG, text,
// an empty or too-short body — is refused with ImageError::Kind::unsupported_format
// before OpenCV ever sees the bytes (OpenCV could decode several of those through
// GDAL, GDCM, OpenEXR or OpenJPEG, and every extra decoder is attack surface).
//
// Thread-safe: no global state is touched (libtiff's handlers are set per handle).
#include "pixelmill/imaging/image_error.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace pixelmill::imaging {

enum class ImageFormat { jpeg, png, webp, tiff, bmp };

// "jpeg", "png", "webp", "tiff", "bmp" — the names the REST API uses.
[[nodiscard]] std::string_view to_string(ImageFormat format) noexcept;
// "image/jpeg", "image/png", "image/webp", "image/tiff", "image/bmp".
[[nodiscard]] std::string_view mime_type(ImageFormat format) noexcept;

struct ProbeResult {
  ImageFormat format = ImageFormat::jpeg;
  // As stored in the file, before any orientation is applied. Zero is possible only
  // for formats whose header allows it (BMP, TIFF); check_limits refuses it.
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  // EXIF orientation 1..8 (1 = upright; absent, 0 or out-of-range values give 1).
  // JPEG: the EXIF APP1 segment. TIFF: its Orientation tag. PNG: the eXIf chunk
  // (what OpenCV 4.6 itself honours). WebP: the EXIF chunk of an extended (VP8X) file.
  // BMP: always 1. Orientation hidden in XMP or ImageMagick text chunks is ignored.
  int orientation = 1;
  // Alpha channel or transparency: PNG colour types 4/6 or a tRNS chunk; WebP alpha;
  // TIFF ExtraSamples (associated/unassociated alpha); BMP 16/32 bpp with an alpha mask.
  bool has_alpha = false;
  // Samples per pixel as stored: JPEG components (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK);
  // PNG 1..4 (a palette image is 1 index channel); WebP 3 or 4; TIFF SamplesPerPixel;
  // BMP 1 (palette, <= 8 bpp), 3 or 4.
  int channels = 0;
  // Bits per sample where the header says so (JPEG 8; PNG 1..16; TIFF BitsPerSample;
  // WebP 8); for BMP the bits per *pixel* (1, 4, 8, 16, 24, 32).
  int bits_per_sample = 0;
  // PNG grey without an alpha channel (colour type 0) whose tRNS chunk names one grey
  // sample value, at the file's bit depth, as fully transparent (a colour key). OpenCV's
  // PNG decoder drops it; transform() rebuilds the alpha from it.
  std::optional<std::uint16_t> transparent_grey;
  bool progressive = false;  // JPEG: progressive (SOF2) rather than baseline/sequential
  bool cmyk = false;         // JPEG with 4 components (CMYK or YCCK); TIFF separated

  // The size after the orientation is applied (5..8 swap width and height).
  [[nodiscard]] std::uint32_t oriented_width() const noexcept {
    return orientation >= 5 ? height : width;
  }
  [[nodiscard]] std::uint32_t oriented_height() const noexcept {
    return orientation >= 5 ? width : height;
  }
  [[nodiscard]] std::uint64_t pixel_count() const noexcept {
    return std::uint64_t{width} * std::uint64_t{height};
  }
};

// Reads the header of `bytes` (the whole file, as uploaded).
// Throws ImageError:
//   unsupported_format — not JPEG/PNG/WebP/TIFF/BMP by magic bytes (the message names
//                        the format when it is recognisable, e.g. "GIF images are not
//                        supported (accepted: JPEG, PNG, WebP, TIFF, BMP)"); also
//                        variants of an accepted format that no decoder here handles:
//                        animated WebP, 12-bit and lossless/hierarchical JPEG, BMP with
//                        embedded JPEG/PNG or CMYK compression, OS/2 2.x BMP.
//   malformed          — accepted magic, but the header is truncated, corrupt or
//                        inconsistent (the message says what the header reader found).
//   over_limit         — only for a JPEG whose side is over libjpeg's hard maximum of
//                        65500 pixels (no limits setting could make it decodable);
//                        every other size check is check_limits' job.
// Corruption after the header (pixel data) is not detected here: decode reports it.
[[nodiscard]] ProbeResult probe(std::span<const std::byte> bytes);
[[nodiscard]] ProbeResult probe(std::span<const unsigned char> bytes);
[[nodiscard]] ProbeResult probe(std::string_view bytes);

struct SourceLimits {
  // Decoding allocates width * height * channels bytes (4 * 50 MP = 200 MB at most).
  std::uint64_t max_source_pixels = 50'000'000;
  // 32768 per side: above any camera sensor (the largest are ~14000 px wide) and
  // room for stitched panoramas that fit the pixel budget (e.g. 32000 x 1500), while
  // refusing the classic bombs (65536 x 65536 PNG, 64250 x 64250 JPEG) on their side
  // alone and bounding the aspect ratio that resize/geometry has to deal with.
  std::uint32_t max_source_dimension = 32768;
};

// Throws ImageError(over_limit) when width or height is zero, either side is over
// max_source_dimension, or width * height (computed in 64 bits) is over
// max_source_pixels. The message names the actual and allowed values and the setting,
// e.g. "image is 64250x64250 = 4128062500 pixels, over the limit of 50000000
// (limits.max_source_pixels)".
void check_limits(const ProbeResult& image, const SourceLimits& limits);

}  // namespace pixelmill::imaging
