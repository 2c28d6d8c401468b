// probe: image format and size from the header bytes alone. See probe.hpp.
//
// Who reads what:
//   JPEG  libjpeg-turbo: jpeg_mem_src + jpeg_read_header (stops at the first SOS; no
//         coefficient or sample buffers are allocated before jpeg_start_decompress),
//         errors longjmp out of a custom error manager, never exit().
//   PNG   libpng: png_read_info over the memory buffer (stops at the first IDAT),
//         every ancillary chunk except tRNS and eXIf discarded unread (so text-chunk
//         zlib bombs are never inflated), user/chunk-cache/chunk-malloc limits set.
//   WebP  libwebp: WebPGetFeatures; libwebpdemux for the EXIF chunk.
//   TIFF  libtiff: TIFFClientOpenExt over the memory buffer, per-handle error and
//         warning handlers (no global state, nothing printed), a cap on any single
//         allocation, on-demand strip/tile offset loading.
//   BMP   by hand: no Debian package offers a BMP header reader (OpenCV's reader is
//         internal and only reachable by decoding). ~80 lines, bounds-checked.
//   EXIF  by hand: the Orientation tag (0x0112) of IFD0, tiff_orientation.hpp (why
//         not libexif: see there).
//
// The libjpeg/libpng parts use setjmp/longjmp: the functions that call setjmp hold
// only trivially destructible locals, and ImageError is thrown after they return.
#include "pixelmill/imaging/probe.hpp"

#include <algorithm>
#include <array>
#include <csetjmp>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

// clang-format off
#include <jpeglib.h>   // needs <cstdio> first
#include <jerror.h>
// clang-format on
#include <png.h>
#include <tiffio.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "tiff_orientation.hpp"

namespace pixelmill::imaging {

namespace {

constexpr const char* kAccepted = "(accepted: JPEG, PNG, WebP, TIFF, BMP)";

[[noreturn]] void unsupported(const std::string& what) {
  throw ImageError(ImageError::Kind::unsupported_format, what + " " + kAccepted);
}
// A variant of an accepted format that no decoder here handles: the message says what
// to send instead rather than listing the formats.
[[noreturn]] void unsupported_variant(const std::string& what) {
  throw ImageError(ImageError::Kind::unsupported_format, what);
}
[[noreturn]] void malformed(std::string_view format, std::string_view why) {
  std::string msg = "malformed ";
  msg += format;
  msg += " image: ";
  msg += why;
  throw ImageError(ImageError::Kind::malformed, msg);
}

// ---------------------------------------------------------------------------
// Byte helpers (all callers check bounds first).
std::uint16_t le16(const unsigned char* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t le32(const unsigned char* p) noexcept {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
         (std::uint32_t{p[3]} << 24);
}
bool starts_with(const unsigned char* p, std::size_t n, std::string_view magic,
                 std::size_t at = 0) noexcept {
  return n >= at + magic.size() && std::memcmp(p + at, magic.data(), magic.size()) == 0;
}

// ---------------------------------------------------------------------------
// Format detection by magic bytes only.
enum class Magic { jpeg, png, webp, tiff, bmp };

Magic detect(const unsigned char* p, std::size_t n) {
  using namespace std::string_view_literals;
  if (n == 0) unsupported("the body is empty, not an image");
  // Accepted formats. Only a short prefix is matched here; the format's own reader
  // validates the rest, so a damaged signature gives "malformed", not "unsupported".
  if (starts_with(p, n, "\xFF\xD8"sv)) return Magic::jpeg;                 // SOI
  if (starts_with(p, n, "\x89PNG"sv)) return Magic::png;                   // libpng checks all 8
  if (starts_with(p, n, "RIFF"sv) && starts_with(p, n, "WEBP"sv, 8)) return Magic::webp;
  if (starts_with(p, n, "II*\0"sv) || starts_with(p, n, "MM\0*"sv) ||     // classic TIFF
      starts_with(p, n, "II+\0"sv) || starts_with(p, n, "MM\0+"sv))       // BigTIFF
    return Magic::tiff;
  if (starts_with(p, n, "BM"sv)) return Magic::bmp;

  // Refused: name the format when it is recognisable, so the message helps.
  struct Known {
    std::string_view magic;
    std::size_t at;
    const char* name;
  };
  static constexpr std::array known{
      Known{"GIF87a"sv, 0, "GIF"},
      Known{"GIF89a"sv, 0, "GIF"},
      Known{"\0\0\0\x0CjP  \r\n\x87\n"sv, 0, "JPEG 2000"},
      Known{"\xFF\x4F\xFF\x51"sv, 0, "JPEG 2000"},
      Known{"\0\0\0\x0CJXL \r\n\x87\n"sv, 0, "JPEG XL"},
      Known{"\xFF\x0A"sv, 0, "JPEG XL"},
      Known{"v/1\x01"sv, 0, "OpenEXR"},
      Known{"#?RADIANCE"sv, 0, "Radiance HDR"},
      Known{"#?RGBE"sv, 0, "Radiance HDR"},
      Known{"\x59\xA6\x6A\x95"sv, 0, "Sun raster"},
      Known{"DICM"sv, 128, "DICOM"},
      Known{"8BPS"sv, 0, "Photoshop (PSD)"},
      Known{"%PDF"sv, 0, "PDF"},
      Known{"qoif"sv, 0, "QOI"},
      Known{"farbfeld"sv, 0, "farbfeld"},
      Known{"\0\0\1\0"sv, 0, "ICO"},
      Known{"\0\0\2\0"sv, 0, "CUR"},
  };
  for (const auto& k : known) {
    if (starts_with(p, n, k.magic, k.at)) unsupported(std::string(k.name) + " images are not supported");
  }
  if (starts_with(p, n, "ftyp"sv, 4) && n >= 12) {  // ISO base media file: AVIF, HEIF, ...
    const std::string_view brand(reinterpret_cast<const char*>(p + 8), 4);
    if (brand == "avif" || brand == "avis") unsupported("AVIF images are not supported");
    if (brand == "heic" || brand == "heix" || brand == "hevc" || brand == "heim" ||
        brand == "heis" || brand == "mif1" || brand == "msf1")
      unsupported("HEIF/HEIC images are not supported");
    // The brand is four uploaded bytes: only printable ASCII goes into the message
    // (it becomes the problem detail and a log field; found by fuzz_probe).
    const bool printable = std::all_of(brand.begin(), brand.end(), [](char c) { return c >= ' ' && c <= '~'; });
    unsupported("ISO media files (brand \"" + (printable ? std::string(brand) : std::string("?")) +
                "\") are not supported");
  }
  if (starts_with(p, n, "RIFF"sv)) unsupported("RIFF files other than WebP are not supported");
  if (n >= 3 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7' &&
      (p[2] == '\n' || p[2] == '\r' || p[2] == ' ' || p[2] == '\t'))
    unsupported("PNM/PAM (netpbm) images are not supported");
  if (n >= 3 && p[0] == 'P' && (p[1] == 'F' || p[1] == 'f') && (p[2] == '\n' || p[2] == '\r'))
    unsupported("PFM images are not supported");
  {
    // SVG / XML: skip a UTF-8 BOM and leading whitespace.
    std::size_t i = starts_with(p, n, "\xEF\xBB\xBF"sv) ? 3 : 0;
    while (i < n && i < 256 && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) ++i;
    const std::string_view rest(reinterpret_cast<const char*>(p + i), std::min<std::size_t>(n - i, 5));
    if (rest.starts_with("<svg") || rest.starts_with("<?xml") || rest.starts_with("<!--"))
      unsupported("SVG/XML documents are not supported");
  }
  if (n < 4) unsupported("the body is " + std::to_string(n) + " bytes, too short to be an image");
  unsupported("unrecognised image format");
}

// ---------------------------------------------------------------------------
// JPEG via libjpeg-turbo.
struct JpegError {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  int code;
  char message[JMSG_LENGTH_MAX];
};

extern "C" void jpeg_error_exit_cb(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  err->code = cinfo->err->msg_code;
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
extern "C" void jpeg_output_message_cb(j_common_ptr) {}   // never print
extern "C" void jpeg_emit_message_cb(j_common_ptr, int) {}  // warnings are not errors here

struct JpegOut {
  unsigned width, height;
  int components, precision, orientation;
  bool progressive, cmyk;
};

// Returns false with err->code/message set when libjpeg failed. Trivially destructible
// locals only (longjmp target).
bool jpeg_read(const unsigned char* data, std::size_t size, JpegOut* out, JpegError* err) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err->pub);
  err->pub.error_exit = jpeg_error_exit_cb;
  err->pub.output_message = jpeg_output_message_cb;
  err->pub.emit_message = jpeg_emit_message_cb;
  err->code = 0;
  err->message[0] = '\0';
  if (setjmp(err->jump)) {
    // get_sof() has filled these before the checks that may fail (precision, size).
    out->width = cinfo.image_width;
    out->height = cinfo.image_height;
    out->precision = cinfo.data_precision;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);  // APP1: EXIF (and XMP, skipped)
  jpeg_read_header(&cinfo, TRUE);
  out->width = cinfo.image_width;
  out->height = cinfo.image_height;
  out->components = cinfo.num_components;
  out->precision = cinfo.data_precision;
  out->progressive = cinfo.progressive_mode != 0;
  out->cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  out->orientation = 1;
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
        std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      out->orientation = exif_orientation({m->data, m->data_length});
      break;  // the first EXIF segment is the one readers use
    }
  }
  jpeg_destroy_decompress(&cinfo);
  return true;
}

ProbeResult probe_jpeg(const unsigned char* data, std::size_t size) {
  JpegOut out{};
  JpegError err{};
  if (!jpeg_read(data, size, &out, &err)) {
    switch (err.code) {
      case JERR_BAD_PRECISION:
        unsupported_variant(std::to_string(out.precision) +
                            "-bit JPEG images are not supported; send an 8-bit JPEG");
      case JERR_SOF_UNSUPPORTED:
        unsupported_variant("lossless and hierarchical JPEG images are not supported; "
                            "send a baseline or progressive JPEG");
      case JERR_IMAGE_TOO_BIG:
        throw ImageError(ImageError::Kind::over_limit,
                         "image is " + std::to_string(out.width) + "x" + std::to_string(out.height) +
                             ", over the JPEG decoder's maximum of 65500 pixels per side");
      default:
        malformed("JPEG", err.message);
    }
  }
  ProbeResult r;
  r.format = ImageFormat::jpeg;
  r.width = out.width;
  r.height = out.height;
  r.orientation = out.orientation;
  r.has_alpha = false;
  r.channels = out.components;
  r.bits_per_sample = out.precision;
  r.progressive = out.progressive;
  r.cmyk = out.cmyk;
  return r;
}

// ---------------------------------------------------------------------------
// PNG via libpng.
struct PngState {
  const unsigned char* data;
  std::size_t size;
  std::size_t pos;
  char message[256];
};

extern "C" void png_error_cb(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof st->message, "%s", msg != nullptr ? msg : "error");
  png_longjmp(png, 1);
}
extern "C" void png_warning_cb(png_structp, png_const_charp) {}
extern "C" void png_read_cb(png_structp png, png_bytep out, size_t n) {
  auto* st = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > st->size - st->pos) png_error(png, "file ends inside the header");
  std::memcpy(out, st->data + st->pos, n);
  st->pos += n;
}

struct PngOut {
  png_uint_32 width, height;
  int bit_depth, color_type, channels, orientation;
  bool has_alpha;
  int transparent_grey;  // -1: none
};

// A grey image's tRNS colour key, or -1. A key outside the bit depth's range matches
// no pixel (libpng only warns about it), so it is dropped here.
int grey_colour_key(png_structp png, png_infop info, int color_type, int bit_depth) {
  png_color_16p key = nullptr;
  if (color_type != PNG_COLOR_TYPE_GRAY || png_get_tRNS(png, info, nullptr, nullptr, &key) == 0 ||
      key == nullptr) {
    return -1;
  }
  return key->gray < (1 << bit_depth) ? key->gray : -1;
}

bool png_read(PngState* st, PngOut* out) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st, png_error_cb, png_warning_cb);
  if (png == nullptr) {
    std::snprintf(st->message, sizeof st->message, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(st->message, sizeof st->message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, st, png_read_cb);
  // The IHDR maximum (2^31-1), not libpng's default 1,000,000: oversized images must
  // reach check_limits and be refused as over the limit (422), not as corrupt.
  png_set_user_limits(png, 0x7fffffffU, 0x7fffffffU);
  png_set_chunk_cache_max(png, 32);
  png_set_chunk_malloc_max(png, 1U << 20);
  // Discard every ancillary chunk unread (text, iCCP, sPLT, ...: no zlib inflate, no
  // allocation) — except tRNS (kept by libpng regardless) and eXIf (orientation).
  // eXIf is kept as an *unknown* chunk: libpng's own eXIf reader allocates the chunk's
  // declared length (up to 2 GB) before reading it, while unknown chunks obey the
  // chunk_malloc_max above (found by fuzz_probe: a 136-byte file asked for 1.6 GB).
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  static constexpr png_byte exif_chunk[] = {'e', 'X', 'I', 'f', '\0'};
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_ALWAYS, exif_chunk, 1);
  png_read_info(png, info);  // signature, IHDR, ancillary chunks, stops at the first IDAT

  int interlace = 0;
  png_get_IHDR(png, info, &out->width, &out->height, &out->bit_depth, &out->color_type, &interlace,
               nullptr, nullptr);
  out->channels = png_get_channels(png, info);
  out->has_alpha = (out->color_type & PNG_COLOR_MASK_ALPHA) != 0 ||
                   png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  out->transparent_grey = grey_colour_key(png, info, out->color_type, out->bit_depth);
  out->orientation = 1;
  png_unknown_chunkp chunks = nullptr;
  const int count = png_get_unknown_chunks(png, info, &chunks);
  for (int i = 0; i < count; ++i) {
    if (std::memcmp(chunks[i].name, "eXIf", 4) == 0 && chunks[i].data != nullptr) {
      out->orientation = exif_orientation({chunks[i].data, chunks[i].size});
      break;  // the first one, as libpng's reader (which refuses a second)
    }
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

ProbeResult probe_png(const unsigned char* data, std::size_t size) {
  PngState st{data, size, 0, {}};
  PngOut out{};
  if (!png_read(&st, &out)) malformed("PNG", st.message);
  ProbeResult r;
  r.format = ImageFormat::png;
  r.width = out.width;
  r.height = out.height;
  r.orientation = out.orientation;
  r.has_alpha = out.has_alpha;
  r.channels = out.channels;
  r.bits_per_sample = out.bit_depth;
  if (out.transparent_grey >= 0) r.transparent_grey = static_cast<std::uint16_t>(out.transparent_grey);
  return r;
}

// ---------------------------------------------------------------------------
// WebP via libwebp / libwebpdemux.
ProbeResult probe_webp(const unsigned char* data, std::size_t size) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  switch (status) {
    case VP8_STATUS_OK: break;
    case VP8_STATUS_NOT_ENOUGH_DATA: malformed("WebP", "the file ends inside the header");
    case VP8_STATUS_UNSUPPORTED_FEATURE: unsupported_variant("this WebP variant is not supported");
    default: malformed("WebP", "invalid RIFF/VP8 header");
  }
  // Decision: animated WebP is refused, like GIF. OpenCV's WebP decoder cannot decode
  // animations, and silently serving the first frame of an animation as if it were the
  // image would surprise more than a clear 415.
  if (features.has_animation != 0)
    unsupported_variant("animated WebP images are not supported; send a still image");

  ProbeResult r;
  r.format = ImageFormat::webp;
  r.width = static_cast<std::uint32_t>(features.width);
  r.height = static_cast<std::uint32_t>(features.height);
  r.has_alpha = features.has_alpha != 0;
  r.channels = r.has_alpha ? 4 : 3;
  r.bits_per_sample = 8;
  // EXIF lives only in extended files: "VP8X" chunk, flags byte, EXIF bit 0x08.
  if (size >= 21 && std::memcmp(data + 12, "VP8X", 4) == 0 && (data[20] & 0x08) != 0) {
    const WebPData whole{data, size};
    if (WebPDemuxer* demux = WebPDemux(&whole); demux != nullptr) {
      WebPChunkIterator it;
      if (WebPDemuxGetChunk(demux, "EXIF", 1, &it) != 0) {
        r.orientation = exif_orientation({it.chunk.bytes, it.chunk.size});
        WebPDemuxReleaseChunkIterator(&it);
      }
      WebPDemuxDelete(demux);
    }
  }
  return r;
}

// ---------------------------------------------------------------------------
// TIFF via libtiff, over the memory buffer.
struct TiffMemory {
  const unsigned char* data;
  std::uint64_t size;
  std::uint64_t pos;
  std::string error;  // first error libtiff reported
};

extern "C" tmsize_t tiff_read_cb(thandle_t h, void* buf, tmsize_t n) {
  auto* m = static_cast<TiffMemory*>(h);
  if (n <= 0 || m->pos >= m->size) return 0;
  const std::uint64_t k = std::min<std::uint64_t>(static_cast<std::uint64_t>(n), m->size - m->pos);
  std::memcpy(buf, m->data + m->pos, k);
  m->pos += k;
  return static_cast<tmsize_t>(k);
}
extern "C" tmsize_t tiff_write_cb(thandle_t, void*, tmsize_t) { return -1; }
extern "C" toff_t tiff_seek_cb(thandle_t h, toff_t off, int whence) {
  auto* m = static_cast<TiffMemory*>(h);
  std::uint64_t base = 0;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = m->pos; break;
    case SEEK_END: base = m->size; break;
    default: return static_cast<toff_t>(-1);
  }
  // toff_t is unsigned; libtiff passes small negative SEEK_CUR offsets as wrapped values.
  const std::uint64_t target = base + off;
  if (target > m->size) return static_cast<toff_t>(-1);
  m->pos = target;
  return target;
}
extern "C" int tiff_close_cb(thandle_t) { return 0; }
extern "C" toff_t tiff_size_cb(thandle_t h) { return static_cast<TiffMemory*>(h)->size; }
extern "C" int tiff_map_cb(thandle_t, void**, toff_t*) { return 0; }
extern "C" void tiff_unmap_cb(thandle_t, void*, toff_t) {}
extern "C" int tiff_error_cb(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* m = static_cast<TiffMemory*>(user);
  if (m->error.empty()) {
    char buf[256];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    m->error = (module != nullptr && *module != '\0') ? std::string(module) + ": " + buf : buf;
    // The message becomes the problem detail and a log field: one line of ASCII.
    // libtiff's own texts contain newlines (found by fuzz_decode: "Tag InkNames:\n ...").
    for (char& c : m->error) {
      if (c < ' ' || c > '~') c = (c == '\n' || c == '\t' || c == '\r') ? ' ' : '?';
    }
  }
  return 1;  // handled: libtiff's global handler (stderr, or OpenCV's) is not called
}
extern "C" int tiff_warning_cb(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffOptions {
  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  ~TiffOptions() { TIFFOpenOptionsFree(opts); }
  TiffOptions() = default;
  TiffOptions(const TiffOptions&) = delete;
  TiffOptions& operator=(const TiffOptions&) = delete;
};
struct TiffHandle {
  TIFF* tif;
  ~TiffHandle() {
    if (tif != nullptr) TIFFClose(tif);
  }
};

ProbeResult probe_tiff(const unsigned char* data, std::size_t size) {
  TiffMemory mem{data, size, 0, {}};
  TiffOptions options;
  if (options.opts == nullptr) throw std::bad_alloc();
  TIFFOpenOptionsSetMaxSingleMemAlloc(options.opts, tmsize_t{16} << 20);
  TIFFOpenOptionsSetErrorHandlerExtR(options.opts, tiff_error_cb, &mem);
  TIFFOpenOptionsSetWarningHandlerExtR(options.opts, tiff_warning_cb, &mem);
  // r: read; m: no memory mapping; O: strip/tile offsets loaded on demand (never here).
  TiffHandle h{TIFFClientOpenExt("upload.tiff", "rmO", &mem, tiff_read_cb, tiff_write_cb, tiff_seek_cb,
                                 tiff_close_cb, tiff_size_cb, tiff_map_cb, tiff_unmap_cb, options.opts)};
  if (h.tif == nullptr) malformed("TIFF", mem.error.empty() ? "cannot read the first directory" : mem.error);

  std::uint32_t width = 0, height = 0;
  if (TIFFGetField(h.tif, TIFFTAG_IMAGEWIDTH, &width) != 1 ||
      TIFFGetField(h.tif, TIFFTAG_IMAGELENGTH, &height) != 1)
    malformed("TIFF", "the first directory has no ImageWidth/ImageLength");
  std::uint16_t samples = 1, bits = 1, orientation = 1, photometric = 0, extra_count = 0;
  std::uint16_t* extra_types = nullptr;
  TIFFGetFieldDefaulted(h.tif, TIFFTAG_SAMPLESPERPIXEL, &samples);
  TIFFGetFieldDefaulted(h.tif, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(h.tif, TIFFTAG_ORIENTATION, &orientation);
  TIFFGetFieldDefaulted(h.tif, TIFFTAG_EXTRASAMPLES, &extra_count, &extra_types);
  const bool has_photometric = TIFFGetField(h.tif, TIFFTAG_PHOTOMETRIC, &photometric) == 1;

  ProbeResult r;
  r.format = ImageFormat::tiff;
  r.width = width;
  r.height = height;
  r.orientation = (orientation >= 1 && orientation <= 8) ? orientation : 1;
  r.channels = samples;
  r.bits_per_sample = bits;
  r.cmyk = has_photometric && photometric == PHOTOMETRIC_SEPARATED && samples >= 4;
  if (extra_count > 0 && extra_types != nullptr) {
    const std::uint16_t t = extra_types[0];
    // Unspecified extra samples on grey/RGB are treated as alpha, as decoders do.
    r.has_alpha = t == EXTRASAMPLE_ASSOCALPHA || t == EXTRASAMPLE_UNASSALPHA ||
                  (t == EXTRASAMPLE_UNSPECIFIED && has_photometric &&
                   (photometric == PHOTOMETRIC_RGB || photometric == PHOTOMETRIC_MINISBLACK ||
                    photometric == PHOTOMETRIC_MINISWHITE));
  }
  return r;
}

// ---------------------------------------------------------------------------
// BMP, by hand (no package offers a header-only BMP reader). Layout: 14-byte
// BITMAPFILEHEADER, then a DIB header whose size says its version:
//   12 BITMAPCOREHEADER (OS/2 1.x, 16-bit sizes), 40 BITMAPINFOHEADER,
//   52/56 BITMAPV2/V3INFOHEADER (RGB / RGBA masks), 108 V4, 124 V5.
ProbeResult probe_bmp(const unsigned char* p, std::size_t n) {
  constexpr std::size_t file_header = 14;
  if (n < file_header + 4) malformed("BMP", "the file ends inside the header");
  const std::uint32_t pixel_offset = le32(p + 10);
  const std::uint32_t dib = le32(p + 14);
  if (dib == 16 || dib == 64) unsupported_variant("OS/2 2.x BMP images are not supported");
  if (dib != 12 && dib != 40 && dib != 52 && dib != 56 && dib != 108 && dib != 124)
    malformed("BMP", "invalid header size " + std::to_string(dib));
  if (n < file_header + dib) malformed("BMP", "the file ends inside the header");
  const unsigned char* h = p + file_header;

  std::int64_t width = 0, height = 0;
  std::uint32_t planes = 0, bpp = 0, compression = 0;
  if (dib == 12) {
    width = le16(h + 4);
    height = le16(h + 6);
    planes = le16(h + 8);
    bpp = le16(h + 10);
  } else {
    width = static_cast<std::int32_t>(le32(h + 4));
    height = static_cast<std::int32_t>(le32(h + 8));
    planes = le16(h + 12);
    bpp = le16(h + 14);
    compression = le32(h + 16);
  }
  constexpr std::uint32_t bi_rle8 = 1, bi_rle4 = 2, bi_bitfields = 3, bi_jpeg = 4,
                          bi_png = 5, bi_alphabitfields = 6;
  if (compression == bi_jpeg || compression == bi_png)
    unsupported_variant("BMP files with embedded JPEG/PNG data are not supported");
  if (compression >= 11 && compression <= 13) unsupported_variant("CMYK BMP images are not supported");
  if (compression > bi_alphabitfields) malformed("BMP", "unknown compression " + std::to_string(compression));
  if (planes != 1) malformed("BMP", "planes is " + std::to_string(planes) + ", must be 1");
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    malformed("BMP", "invalid bits per pixel " + std::to_string(bpp) +
                         " (valid: 1, 4, 8, 16, 24, 32)");
  if (dib == 12 && (bpp == 16 || bpp == 32)) malformed("BMP", "OS/2 1.x BMP cannot have 16 or 32 bpp");
  if (width < 0) malformed("BMP", "negative width");
  const bool top_down = height < 0;
  if (top_down) height = -height;  // int64: INT32_MIN negates fine
  if (height > std::int64_t{0x7fffffff}) malformed("BMP", "invalid height");
  if ((compression == bi_rle8 && bpp != 8) || (compression == bi_rle4 && bpp != 4))
    malformed("BMP", "RLE compression does not match " + std::to_string(bpp) + " bpp");
  if ((compression == bi_rle8 || compression == bi_rle4) && top_down)
    malformed("BMP", "RLE-compressed BMP cannot be top-down");
  if ((compression == bi_bitfields || compression == bi_alphabitfields) && bpp != 16 && bpp != 32)
    malformed("BMP", "bit-field masks need 16 or 32 bpp, not " + std::to_string(bpp));
  if (pixel_offset < file_header + dib || pixel_offset > n)
    malformed("BMP", "pixel data offset " + std::to_string(pixel_offset) + " is outside the file");

  // Alpha mask: inside the header from V3 (56) on; for a 40-byte header with
  // BI_ALPHABITFIELDS it follows the header after the R, G, B masks.
  std::uint32_t alpha_mask = 0;
  if (dib >= 56) {
    alpha_mask = le32(h + 52);
  } else if (dib == 40 && compression == bi_alphabitfields) {
    if (n < file_header + 40 + 16) malformed("BMP", "the file ends inside the colour masks");
    alpha_mask = le32(h + 40 + 12);
  }

  ProbeResult r;
  r.format = ImageFormat::bmp;
  r.width = static_cast<std::uint32_t>(width);
  r.height = static_cast<std::uint32_t>(height);
  r.orientation = 1;
  r.has_alpha = (bpp == 16 || bpp == 32) &&
                (compression == bi_bitfields || compression == bi_alphabitfields) && alpha_mask != 0;
  r.channels = bpp <= 8 ? 1 : (r.has_alpha ? 4 : 3);
  r.bits_per_sample = static_cast<int>(bpp);
  return r;
}

ProbeResult probe_bytes(const unsigned char* data, std::size_t size) {
  switch (detect(data, size)) {
    case Magic::jpeg: return probe_jpeg(data, size);
    case Magic::png: return probe_png(data, size);
    case Magic::webp: return probe_webp(data, size);
    case Magic::tiff: return probe_tiff(data, size);
    case Magic::bmp: return probe_bmp(data, size);
  }
  unsupported("unrecognised image format");
}

}  // namespace

std::string_view to_string(ImageFormat format) noexcept {
  switch (format) {
    case ImageFormat::jpeg: return "jpeg";
    case ImageFormat::png: return "png";
    case ImageFormat::webp: return "webp";
    case ImageFormat::tiff: return "tiff";
    case ImageFormat::bmp: return "bmp";
  }
  return "unknown";
}

std::string_view mime_type(ImageFormat format) noexcept {
  switch (format) {
    case ImageFormat::jpeg: return "image/jpeg";
    case ImageFormat::png: return "image/png";
    case ImageFormat::webp: return "image/webp";
    case ImageFormat::tiff: return "image/tiff";
    case ImageFormat::bmp: return "image/bmp";
  }
  return "application/octet-stream";
}

ProbeResult probe(std::span<const unsigned char> bytes) {
  return probe_bytes(bytes.data(), bytes.size());
}
ProbeResult probe(std::span<const std::byte> bytes) {
  return probe_bytes(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}
ProbeResult probe(std::string_view bytes) {
  return probe_bytes(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

void check_limits(const ProbeResult& image, const SourceLimits& limits) {
  const std::string size = std::to_string(image.width) + "x" + std::to_string(image.height);
  if (image.width == 0 || image.height == 0)
    throw ImageError(ImageError::Kind::over_limit,
                     "image is " + size + ": width and height must be at least 1 pixel");
  const std::uint64_t pixels = image.pixel_count();  // <= (2^32-1)^2: fits in 64 bits
  if (pixels > limits.max_source_pixels)
    throw ImageError(ImageError::Kind::over_limit,
                     "image is " + size + " = " + std::to_string(pixels) + " pixels, over the limit of " +
                         std::to_string(limits.max_source_pixels) + " (limits.max_source_pixels)");
  const std::uint32_t longest = std::max(image.width, image.height);
  if (longest > limits.max_source_dimension)
    throw ImageError(ImageError::Kind::over_limit,
                     "image is " + size + ": " + (image.width >= image.height ? "width " : "height ") +
                         std::to_string(longest) + " is over the limit of " +
                         std::to_string(limits.max_source_dimension) +
                         " pixels per side (limits.max_source_dimension)");
}

}  // namespace pixelmill::imaging
