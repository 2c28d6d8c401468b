// probe + check_limits over the real files of ../shared/testdata (driven by its
// MANIFEST.tsv), plus hand-made byte buffers for what the corpus does not cover.
// Every file in the tree must be classified: probe succeeds, or throws ImageError —
// never a crash, never another exception, never a bomb-sized allocation.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pixelmill/imaging/image_error.hpp"
#include "pixelmill/imaging/probe.hpp"

using namespace pixelmill::imaging;
namespace fs = std::filesystem;

namespace {

const fs::path kTestdata = fs::path(PIXELMILL_SOURCE_DIR) / ".." / "shared" / "testdata";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What probe did with some bytes. Only ImageError is caught: anything else escapes and
// fails the test.
struct Outcome {
  std::optional<ProbeResult> result;
  ImageError::Kind kind{};
  std::string message;

  bool ok() const { return result.has_value(); }
  // "ok" or the error kind, printable in failure messages.
  std::string what() const { return ok() ? std::string("ok") : std::string(to_string(kind)); }
};

Outcome run_probe(std::string_view bytes) {
  Outcome o;
  try {
    o.result = probe(bytes);
  } catch (const ImageError& e) {
    o.kind = e.kind();
    o.message = e.what();
  }
  return o;
}

std::string limits_outcome(const ProbeResult& r, const SourceLimits& limits = {}) {
  try {
    check_limits(r, limits);
    return "ok";
  } catch (const ImageError& e) {
    return std::string(to_string(e.kind()));
  }
}

std::string limits_message(const ProbeResult& r, const SourceLimits& limits = {}) {
  try {
    check_limits(r, limits);
    return "";
  } catch (const ImageError& e) {
    return e.what();
  }
}

// --- MANIFEST.tsv ----------------------------------------------------------------
struct Entry {
  std::string file;    // relative to testdata
  std::string format;  // JPEG, PNG, WebP, TIFF, BMP, GIF, AVIF, SVG, "unknown (named .png)"
  std::string size;    // "WxH", "WxH (declared; ...)", "corrupt", "corrupt (header WxH)", "n/a"
  std::string what;    // description, with [EXIF orientation=N, progressive, ...] tags
  std::optional<std::pair<std::uint32_t, std::uint32_t>> dims;  // parsed from size
  bool declared = false;                                         // a bomb: size not decoded
  bool corrupt = false;
};

std::optional<std::pair<std::uint32_t, std::uint32_t>> parse_dims(std::string_view s) {
  const auto x = s.find('x');
  if (x == std::string_view::npos || x == 0) return std::nullopt;
  std::uint64_t w = 0, h = 0;
  std::size_t i = 0;
  for (; i < x; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    w = w * 10 + static_cast<std::uint64_t>(s[i] - '0');
  }
  std::size_t j = x + 1;
  if (j >= s.size() || s[j] < '0' || s[j] > '9') return std::nullopt;
  for (; j < s.size() && s[j] >= '0' && s[j] <= '9'; ++j) h = h * 10 + static_cast<std::uint64_t>(s[j] - '0');
  return std::make_pair(static_cast<std::uint32_t>(w), static_cast<std::uint32_t>(h));
}

const std::vector<Entry>& manifest() {
  static const std::vector<Entry> entries = [] {
    std::vector<Entry> out;
    std::istringstream in(read_file(kTestdata / "MANIFEST.tsv"));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      std::vector<std::string> cols;
      std::string col;
      std::istringstream ls(line);
      while (std::getline(ls, col, '\t')) cols.push_back(col);
      REQUIRE_MESSAGE(cols.size() >= 5, "bad manifest line: " << line);
      Entry e{cols[0], cols[2], cols[3], cols[4], std::nullopt, false, false};
      e.corrupt = e.size.starts_with("corrupt");
      e.declared = e.size.find("(declared") != std::string::npos;
      if (e.corrupt) {
        const auto h = e.size.find("(header ");
        if (h != std::string::npos) e.dims = parse_dims(std::string_view(e.size).substr(h + 8));
      } else {
        e.dims = parse_dims(e.size);
      }
      out.push_back(std::move(e));
    }
    return out;
  }();
  return entries;
}

bool accepted_format(const std::string& f) {
  return f == "JPEG" || f == "PNG" || f == "WebP" || f == "TIFF" || f == "BMP";
}
std::string manifest_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::png: return "PNG";
    case ImageFormat::webp: return "WebP";
    case ImageFormat::tiff: return "TIFF";
    case ImageFormat::bmp: return "BMP";
  }
  return "?";
}

// "[EXIF orientation=3, progressive, ICC]" -> 3
std::optional<int> tagged_orientation(const std::string& what) {
  const auto p = what.find("EXIF orientation=");
  if (p == std::string::npos) return std::nullopt;
  return what[p + 17] - '0';
}
// "[..., progressive, ...]" -> true, "[non-progressive]" -> false, untagged -> nullopt
std::optional<bool> tagged_progressive(const std::string& what) {
  const auto open = what.rfind('[');
  if (open == std::string::npos) return std::nullopt;
  const std::string tags = what.substr(open);
  if (tags.find("non-progressive") != std::string::npos) return false;
  if (tags.find("progressive") != std::string::npos) return true;
  return std::nullopt;
}

// Accepted-format files that probe refuses on purpose: variants no decoder here handles.
const std::map<std::string, std::string> kRefusedVariants = {
    {"libjpeg-turbo/monkey12.jpg", "12-bit JPEG"},
    {"sharp/testimgl.jpg", "lossless JPEG (SOF3)"},
    {"sharp/animated-loop-3.webp", "animated WebP"},
    {"sharp/big-height.webp", "animated WebP"},
    {"sharp/rotating-squares.webp", "animated WebP"},
};
// "corrupt (header WxH)" files whose corruption is in the header: probe says malformed.
// The others in that class are corrupt after the header (pixel data, IDAT CRC, zlib
// stream, truncation); probe reads only the header, gives the header's size, and the
// decoder reports them.
const std::set<std::string> kHeaderCorrupt = {
    "pngsuite/xc1n0g08.png", "pngsuite/xc9n2c08.png", "pngsuite/xd0n2c08.png",
    "pngsuite/xd3n2c08.png", "pngsuite/xd9n2c08.png", "pngsuite/xdtn0g01.png",
    "pngsuite/xhdn0g08.png", "imgproxy/bmp-invalid-bpp.bmp",
};
// Orientation the manifest mentions but that is not in EXIF proper (an ImageMagick
// "Raw profile type exif" text chunk; XMP): not honoured, as OpenCV and browsers don't.
const std::set<std::string> kOrientationNotInExif = {
    "pillow/exif_imagemagick_orientation.png",
    "pillow/xmp_tags_orientation.png",
};

// Resident and virtual size of this process, from /proc/self/statm.
struct Memory {
  std::uint64_t virt = 0, rss = 0;
};
Memory memory_now() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return {size * page, resident * page};
}

// Minimal BMP: 14-byte file header + DIB header of `dib` bytes, then `pixels` bytes.
std::string make_bmp(std::uint32_t dib, std::int32_t w, std::int32_t h, std::uint16_t bpp,
                     std::uint32_t compression = 0, std::uint32_t alpha_mask = 0,
                     std::size_t pixels = 64, std::uint16_t planes = 1) {
  std::string b(14 + dib + pixels, '\0');
  auto put16 = [&](std::size_t at, std::uint16_t v) {
    b[at] = static_cast<char>(v & 0xff);
    b[at + 1] = static_cast<char>(v >> 8);
  };
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  b[0] = 'B';
  b[1] = 'M';
  put32(2, static_cast<std::uint32_t>(b.size()));
  put32(10, 14 + dib);
  put32(14, dib);
  if (dib == 12) {
    put16(18, static_cast<std::uint16_t>(w));
    put16(20, static_cast<std::uint16_t>(h));
    put16(22, planes);
    put16(24, bpp);
  } else {
    put32(18, static_cast<std::uint32_t>(w));
    put32(22, static_cast<std::uint32_t>(h));
    put16(26, planes);
    put16(28, bpp);
    put32(30, compression);
    if (dib >= 56) {
      put32(54, 0x00ff0000);
      put32(58, 0x0000ff00);
      put32(62, 0x000000ff);
      put32(66, alpha_mask);
    }
  }
  return b;
}

// A TIFF-structured EXIF block (no "Exif\0\0" prefix) with IFD0 holding one entry.
std::string make_exif(bool little, std::uint16_t tag, std::uint16_t type, std::uint32_t value,
                      std::uint32_t ifd_offset = 8, std::uint16_t entries = 1) {
  std::string e;
  auto p16 = [&](std::uint16_t v) {
    if (little) {
      e += static_cast<char>(v & 0xff);
      e += static_cast<char>(v >> 8);
    } else {
      e += static_cast<char>(v >> 8);
      e += static_cast<char>(v & 0xff);
    }
  };
  auto p32 = [&](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
      const int shift = little ? 8 * i : 8 * (3 - i);
      e += static_cast<char>((v >> shift) & 0xff);
    }
  };
  e += little ? "II" : "MM";
  p16(42);
  p32(ifd_offset);
  p16(entries);
  p16(tag);
  p16(type);
  p32(1);
  if (type == 3) {
    p16(static_cast<std::uint16_t>(value));
    p16(0);
  } else {
    p32(value);
  }
  p32(0);  // next IFD
  return e;
}

// Inserts an APP1 "Exif\0\0" segment right after SOI of a real JPEG.
std::string jpeg_with_exif(const std::string& jpeg, const std::string& exif) {
  const std::string payload = std::string("Exif\0\0", 6) + exif;
  const std::size_t len = payload.size() + 2;
  std::string seg = "\xFF\xE1";
  seg += static_cast<char>(len >> 8);
  seg += static_cast<char>(len & 0xff);
  return jpeg.substr(0, 2) + seg + payload + jpeg.substr(2);
}

}  // namespace

TEST_CASE("probe: the testdata tree and its manifest are there") {
  REQUIRE_MESSAGE(fs::is_directory(kTestdata), "missing " << kTestdata.string());
  REQUIRE(manifest().size() > 300);
  for (const auto& e : manifest()) CHECK_MESSAGE(fs::is_regular_file(kTestdata / e.file), e.file);
}

TEST_CASE("probe: every decodable file in the manifest gives its exact size, format and orientation") {
  int checked = 0;
  for (const auto& e : manifest()) {
    if (!accepted_format(e.format) || e.corrupt || e.declared || !e.dims) continue;
    if (kRefusedVariants.contains(e.file)) continue;
    INFO(e.file);
    const Outcome o = run_probe(read_file(kTestdata / e.file));
    REQUIRE_MESSAGE(o.ok(), o.message);
    const ProbeResult& r = *o.result;
    CHECK(manifest_format_name(r.format) == e.format);
    CHECK(r.width == e.dims->first);
    CHECK(r.height == e.dims->second);
    CHECK(limits_outcome(r) == "ok");
    const int orientation = kOrientationNotInExif.contains(e.file) ? 1 : tagged_orientation(e.what).value_or(1);
    CHECK(r.orientation == orientation);
    if (r.format == ImageFormat::jpeg) {
      if (auto progressive = tagged_progressive(e.what)) CHECK(r.progressive == *progressive);
      CHECK(r.bits_per_sample == 8);
      CHECK_FALSE(r.has_alpha);
    }
    CHECK(r.channels >= 1);
    CHECK(r.channels <= 4);
    ++checked;
  }
  CHECK(checked > 250);
}

TEST_CASE("probe: EXIF orientation examples give 1..8 (0 -> 1) and the upright size") {
  for (const std::string set : {"Landscape", "Portrait"}) {
    for (int n = 0; n <= 8; ++n) {
      const std::string file = "exif-orientation-examples/" + set + "_" + std::to_string(n) + ".jpg";
      INFO(file);
      const Outcome o = run_probe(read_file(kTestdata / file));
      REQUIRE(o.ok());
      CHECK(o.result->orientation == (n == 0 ? 1 : n));
      // After the orientation is applied, landscape is wider than tall and portrait taller.
      if (set == "Landscape") {
        CHECK(o.result->oriented_width() == 1800);
        CHECK(o.result->oriented_height() == 1200);
      } else {
        CHECK(o.result->oriented_width() == 1200);
        CHECK(o.result->oriented_height() == 1800);
      }
    }
  }
  // TIFF from its Orientation tag; PNG from eXIf; WebP from its EXIF chunk.
  CHECK(run_probe(read_file(kTestdata / "sharp/uncompressed_tiff.tiff")).result->orientation == 1);
  CHECK(run_probe(read_file(kTestdata / "imgproxy/orientation-5.png")).result->orientation == 5);
  CHECK(run_probe(read_file(kTestdata / "imgproxy/orientation-1.png")).result->orientation == 3);
  CHECK(run_probe(read_file(kTestdata / "pillow/hopper_orientation_6.webp")).result->orientation == 6);
  CHECK(run_probe(read_file(kTestdata / "libjpeg-turbo/shira_bird8.bmp")).result->orientation == 1);
}

TEST_CASE("probe: PngSuite colour types, bit depths and transparency") {
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kTestdata / "pngsuite")) {
    const std::string name = entry.path().filename().string();
    // Names like basn6a16.png: [3] n/i interlace, [4] colour type, [6..7] bit depth.
    if (name.size() != 12 || name[0] == 'x' || !name.ends_with(".png")) continue;
    if ((name[3] != 'n' && name[3] != 'i') || name[4] < '0' || name[4] > '6') continue;
    INFO(name);
    const Outcome o = run_probe(read_file(entry.path()));
    REQUIRE_MESSAGE(o.ok(), o.message);
    const ProbeResult& r = *o.result;
    const int colour_type = name[4] - '0';
    const int depth = std::stoi(name.substr(6, 2));
    CHECK(r.format == ImageFormat::png);
    CHECK(r.bits_per_sample == depth);
    const int channels[] = {1, 0, 3, 1, 2, 0, 4};
    CHECK(r.channels == channels[colour_type]);
    // Alpha channel (4, 6) or a tRNS chunk: PngSuite's tb*, tm3, tp1 files have one.
    const bool trns = name.starts_with("tb") || name.starts_with("tm3") || name.starts_with("tp1");
    CHECK(r.has_alpha == (colour_type == 4 || colour_type == 6 || trns));
    CHECK(r.orientation == 1);
    ++checked;
  }
  CHECK(checked >= 150);
  CHECK(run_probe(read_file(kTestdata / "sharp/Flag_of_the_Netherlands-alpha.png")).result->has_alpha);
  CHECK(run_probe(read_file(kTestdata / "sharp/full-transparent.png")).result->has_alpha);
  CHECK(run_probe(read_file(kTestdata / "pillow/tRNS_null_1x1.png")).result->has_alpha);
  CHECK_FALSE(run_probe(read_file(kTestdata / "libjpeg-turbo/testorig.png")).result->has_alpha);
}

TEST_CASE("probe: WebP, TIFF, BMP and JPEG details") {
  auto probe_file = [](const char* f) {
    const Outcome o = run_probe(read_file(kTestdata / f));
    REQUIRE_MESSAGE(o.ok(), f << ": " << o.message);
    return *o.result;
  };
  const ProbeResult webp_alpha = probe_file("sharp/5_webp_a.webp");
  CHECK(webp_alpha.has_alpha);
  CHECK(webp_alpha.channels == 4);
  CHECK_FALSE(probe_file("sharp/4.webp").has_alpha);
  CHECK(probe_file("libvips/looks-like-svg.webp").format == ImageFormat::webp);

  const ProbeResult cmyk = probe_file("pillow/pil_sample_cmyk.jpg");
  CHECK(cmyk.channels == 4);
  CHECK(cmyk.cmyk);
  CHECK(probe_file("sharp/Channel_digital_image_CMYK_color_no_profile.jpg").cmyk);
  CHECK(probe_file("pillow/hopper_gray.jpg").channels == 1);
  CHECK(probe_file("photos/Bridge_by_Sander_Klootwijk.jpg").progressive);
  CHECK_FALSE(probe_file("photos/umang_by_Abhishek_Mudgal.jpg").progressive);
  CHECK(probe_file("libjpeg-turbo/testimgari.jpg").width == 227);  // arithmetic-coded
  CHECK(probe_file("pillow/junk_jpeg_header.jpg").width == 1024);

  const ProbeResult tiff = probe_file("sharp/cielab-dagams.tiff");
  CHECK(tiff.format == ImageFormat::tiff);
  CHECK(tiff.bits_per_sample == 16);
  CHECK(probe_file("sharp/uncompressed_tiff.tiff").channels == 3);

  const ProbeResult bmp = probe_file("libjpeg-turbo/shira_bird8.bmp");
  CHECK(bmp.format == ImageFormat::bmp);
  CHECK(bmp.bits_per_sample == 24);
  CHECK_FALSE(bmp.has_alpha);
}

TEST_CASE("probe: corrupt files — header corruption is malformed, data corruption is left to decode") {
  for (const auto& e : manifest()) {
    if (!e.corrupt) continue;
    INFO(e.file << " (" << e.what << ")");
    const Outcome o = run_probe(read_file(kTestdata / e.file));
    if (!accepted_format(e.format)) {  // bad magic, e.g. PngSuite xs1/xs2/xs4
      CHECK(o.what() == "unsupported_format");
    } else if (!e.dims || kHeaderCorrupt.contains(e.file)) {
      CHECK(o.what() == "malformed");
      CHECK(o.message.starts_with("malformed " + e.format + " image: "));
    } else {
      REQUIRE_MESSAGE(o.ok(), o.message);
      CHECK(o.result->width == e.dims->first);
      CHECK(o.result->height == e.dims->second);
    }
  }
  const Outcome bpp = run_probe(read_file(kTestdata / "imgproxy/bmp-invalid-bpp.bmp"));
  CHECK(bpp.message == "malformed BMP image: invalid bits per pixel 40 (valid: 1, 4, 8, 16, 24, 32)");
  CHECK(run_probe(read_file(kTestdata / "pngsuite/xhdn0g08.png")).message.find("CRC") != std::string::npos);
  CHECK(run_probe(read_file(kTestdata / "pngsuite/xs7n0g01.png")).what() == "malformed");
  CHECK(run_probe(read_file(kTestdata / "sharp/corrupt-header.jpg")).what() == "malformed");
}

TEST_CASE("probe: formats other than JPEG/PNG/WebP/TIFF/BMP are unsupported, and named") {
  int checked = 0;
  for (const auto& e : manifest()) {
    if (accepted_format(e.format)) continue;
    INFO(e.file);
    CHECK(run_probe(read_file(kTestdata / e.file)).what() == "unsupported_format");
    ++checked;
  }
  CHECK(checked >= 20);
  CHECK(run_probe(read_file(kTestdata / "fuzzdb/uber.gif")).message ==
        "GIF images are not supported (accepted: JPEG, PNG, WebP, TIFF, BMP)");
  CHECK(run_probe(read_file(kTestdata / "sharp/pitm.avif")).message.starts_with("AVIF images are not supported"));
  CHECK(run_probe(read_file(kTestdata / "sharp/check.svg")).message.starts_with("SVG"));
  CHECK(run_probe(read_file(kTestdata / "README.md")).message ==
        "unrecognised image format (accepted: JPEG, PNG, WebP, TIFF, BMP)");

  for (const auto& [file, why] : kRefusedVariants) {
    INFO(file << ": " << why);
    CHECK(run_probe(read_file(kTestdata / file)).what() == "unsupported_format");
  }
  CHECK(run_probe(read_file(kTestdata / "sharp/rotating-squares.webp")).message.starts_with("animated WebP"));
  CHECK(run_probe(read_file(kTestdata / "libjpeg-turbo/monkey12.jpg")).message.starts_with("12-bit JPEG"));

  // Formats OpenCV could decode (through its own or optional decoders) never reach it.
  using namespace std::string_literals;
  const std::pair<std::string, const char*> named[] = {
      {"\0\0\0\x0CjP  \r\n\x87\n\0\0\0\x14"s, "JPEG 2000"},
      {"\xFF\x4F\xFF\x51\0\x2F"s, "JPEG 2000"},
      {"v/1\x01\x02\0\0\0"s, "OpenEXR"},
      {"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n"s, "Radiance HDR"},
      {"P6\n3 2\n255\n"s, "PNM"},
      {"P7\nWIDTH 1\n"s, "PNM"},
      {"PF\n1 1\n-1.0\n"s, "PFM"},
      {"\x59\xA6\x6A\x95\0\0\0\1"s, "Sun raster"},
      {std::string(128, '\0') + "DICM\x02\0"s, "DICOM"},
      {"\0\0\0\x1C" "ftypavif\0\0\0\0"s, "AVIF"},
      {"\0\0\0\x18" "ftypheic\0\0\0\0"s, "HEIF"},
      {"GIF87a\x01\0\x01\0"s, "GIF"},
      {"\xEF\xBB\xBF  <svg xmlns=\"http://www.w3.org/2000/svg\"/>"s, "SVG"},
      {"RIFF\x10\0\0\0WAVEfmt "s, "RIFF"},
      {"8BPS\0\1"s, "Photoshop"},
  };
  for (const auto& [bytes, name] : named) {
    INFO(name);
    const Outcome o = run_probe(bytes);
    CHECK(o.what() == "unsupported_format");
    CHECK(o.message.find(name) != std::string::npos);
  }
}

TEST_CASE("probe: hand-made buffers — empty, too short, signatures only") {
  using namespace std::string_literals;
  CHECK(run_probe("").what() == "unsupported_format");
  CHECK(run_probe("").message.starts_with("the body is empty"));
  CHECK(run_probe("abc").what() == "unsupported_format");
  CHECK(run_probe("abc").message.find("too short") != std::string::npos);
  CHECK(run_probe("hello, this is text and not an image\n").what() == "unsupported_format");
  CHECK(run_probe("\xFF\xD8"s).what() == "malformed");          // JPEG SOI only
  CHECK(run_probe("\xFF\xD8\xFF"s).what() == "malformed");      // 3 bytes of JPEG
  CHECK(run_probe("\xFF\xD8\xFF\xD9"s).what() == "malformed");  // SOI EOI: no image
  CHECK(run_probe("\x89PNG\r\n\x1A\n"s).what() == "malformed");  // PNG signature only
  CHECK(run_probe("\x89PNG"s).what() == "malformed");
  CHECK(run_probe("RIFF\0\0\0\0WEBP"s).what() == "malformed");
  CHECK(run_probe("RIFF\x24\0\0\0WEBPVP8 "s).what() == "malformed");
  CHECK(run_probe("II*\0"s).what() == "malformed");
  CHECK(run_probe("MM\0*\0\0\0\x08\0\0"s).what() == "malformed");
  CHECK(run_probe("II*\0\xFF\xFF\xFF\x7F"s).what() == "malformed");  // IFD offset past the end
  CHECK(run_probe("BM"s).what() == "malformed");
  CHECK(run_probe("BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0"s).what() == "malformed");

  // A JPEG whose SOF declares more than libjpeg's 65500-pixel maximum is over the limit
  // straight from probe (the decoder could never open it, whatever the configured limits).
  {
    std::string jpeg = read_file(kTestdata / "pillow/hopper.jpg");
    const auto sof = jpeg.find("\xFF\xC0"s);
    REQUIRE(sof != std::string::npos);
    jpeg[sof + 5] = '\x00';  // height 100
    jpeg[sof + 6] = '\x64';
    jpeg[sof + 7] = '\xFF';  // width 65535
    jpeg[sof + 8] = '\xFF';
    const Outcome o = run_probe(jpeg);
    CHECK(o.what() == "over_limit");
    CHECK(o.message == "image is 65535x100, over the JPEG decoder's maximum of 65500 pixels per side");
  }

  // Every prefix of real files' headers: malformed or (past the header) ok, never a crash.
  for (const char* f : {"pillow/hopper.jpg", "libvips/rotation-6.jpg", "pngsuite/basn6a08.png",
                        "imgproxy/orientation-5.png", "sharp/5_webp_a.webp", "pillow/hopper_orientation_3.webp",
                        "sharp/uncompressed_tiff.tiff", "sharp/tifftag-photoshop.tiff",
                        "libjpeg-turbo/shira_bird8.bmp"}) {
    const std::string bytes = read_file(kTestdata / f);
    const std::size_t n = std::min<std::size_t>(bytes.size(), 4096);
    for (std::size_t len = 1; len < n; ++len) {
      const Outcome o = run_probe(std::string_view(bytes).substr(0, len));
      // Under 12 bytes the magic itself may be incomplete: unsupported is right then.
      const bool allowed = o.ok() || o.kind == ImageError::Kind::malformed ||
                           (len < 12 && o.kind == ImageError::Kind::unsupported_format);
      if (!allowed) {
        INFO(f << " cut to " << len << " bytes: " << o.message);
        CHECK(o.what() == "malformed");
      }
    }
  }
}

TEST_CASE("probe: random damage to real headers only ever gives ImageError") {
  std::mt19937 rng(20240607);
  std::map<std::string, int> outcomes;
  for (const char* f : {"pillow/hopper.jpg", "libvips/rotation-6.jpg", "pngsuite/basn6a08.png",
                        "imgproxy/orientation-5.png", "sharp/5_webp_a.webp", "pillow/hopper_orientation_3.webp",
                        "sharp/uncompressed_tiff.tiff", "sharp/cielab-dagams.tiff",
                        "libjpeg-turbo/shira_bird8.bmp"}) {
    const std::string original = read_file(kTestdata / f);
    const std::size_t window = std::min<std::size_t>(original.size(), 512);
    REQUIRE(window > 16);
    for (int round = 0; round < 400; ++round) {
      std::string bytes = original;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < flips; ++i) {
        // Keep the 4-byte magic so the format's own reader is exercised.
        const std::size_t at = 4 + rng() % (window - 4);
        bytes[at] = static_cast<char>(rng() & 0xff);
      }
      if (rng() % 4 == 0) bytes.resize(4 + rng() % (bytes.size() - 4));
      const Outcome o = run_probe(bytes);
      ++outcomes[o.what()];
    }
  }
  MESSAGE("random header damage: ok " << outcomes["ok"] << ", malformed " << outcomes["malformed"]
                                       << ", unsupported " << outcomes["unsupported_format"]
                                       << ", over_limit " << outcomes["over_limit"]);
}

TEST_CASE("probe: bombs are read from the header in microseconds and refused by check_limits") {
  int bombs = 0;
  for (const auto& e : manifest()) {
    if (!e.declared) continue;
    INFO(e.file << " declares " << e.size);
    const std::string bytes = read_file(kTestdata / e.file);
    const Memory before = memory_now();
    const auto start = std::chrono::steady_clock::now();
    const Outcome o = run_probe(bytes);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const Memory after = memory_now();
    CHECK(elapsed < std::chrono::milliseconds(500));
    CHECK(after.rss < before.rss + (64u << 20));
    CHECK(after.virt < before.virt + (1024u << 20));
    ++bombs;
    if (!accepted_format(e.format)) {
      CHECK(o.what() == "unsupported_format");  // GIF/AVIF bombs never get this far
      continue;
    }
    REQUIRE_MESSAGE(o.ok(), o.message);
    CHECK(o.result->width == e.dims->first);
    CHECK(o.result->height == e.dims->second);
    const bool over = o.result->pixel_count() > SourceLimits{}.max_source_pixels;
    CHECK(limits_outcome(*o.result) == (over ? "over_limit" : "ok"));
  }
  CHECK(bombs >= 6);

  const ProbeResult png = *run_probe(read_file(kTestdata / "sharp/65536-uint32-limit.png")).result;
  const ProbeResult jpeg = *run_probe(read_file(kTestdata / "fuzzdb/lottapixel.jpg")).result;
  const ProbeResult bmp = *run_probe(read_file(kTestdata / "pillow/reallybig.bmp")).result;
  CHECK(limits_message(jpeg) ==
        "image is 64250x64250 = 4128062500 pixels, over the limit of 50000000 (limits.max_source_pixels)");
  CHECK(limits_message(png) ==
        "image is 65536x65536 = 4294967296 pixels, over the limit of 50000000 (limits.max_source_pixels)");
  CHECK(limits_message(bmp).find("6000000000000 pixels") != std::string::npos);
  // The side limit alone refuses them too, whatever the pixel budget.
  const SourceLimits huge_budget{UINT64_MAX, SourceLimits{}.max_source_dimension};
  CHECK(limits_message(png, huge_budget) ==
        "image is 65536x65536: width 65536 is over the limit of 32768 pixels per side "
        "(limits.max_source_dimension)");
  CHECK(limits_outcome(jpeg, huge_budget) == "over_limit");
  // The text-chunk zlib bomb is a valid 1x1 image: its chunks are skipped, never inflated.
  CHECK(limits_outcome(*run_probe(read_file(kTestdata / "pillow/png_decompression_dos.png")).result) == "ok");
}

TEST_CASE("check_limits: boundaries, zero sizes, 64-bit products") {
  ProbeResult r;
  const SourceLimits limits{1000, 100};
  r.width = 100;
  r.height = 10;
  CHECK(limits_outcome(r, limits) == "ok");  // exactly at both limits
  r.height = 11;
  CHECK(limits_message(r, limits) ==
        "image is 100x11 = 1100 pixels, over the limit of 1000 (limits.max_source_pixels)");
  r.width = 9;
  r.height = 101;
  CHECK(limits_message(r, limits) ==
        "image is 9x101: height 101 is over the limit of 100 pixels per side (limits.max_source_dimension)");
  r.width = 0;
  r.height = 32;
  CHECK(limits_outcome(r, limits) == "over_limit");
  CHECK(limits_message(r, limits) == "image is 0x32: width and height must be at least 1 pixel");
  r.width = 32;
  r.height = 0;
  CHECK(limits_outcome(r, limits) == "over_limit");
  r.width = UINT32_MAX;  // (2^32-1)^2 needs 64 bits; 32-bit maths would wrap to 1
  r.height = UINT32_MAX;
  CHECK(r.pixel_count() == 18446744065119617025ULL);
  CHECK(limits_outcome(r, SourceLimits{}) == "over_limit");
  CHECK(limits_outcome(r, SourceLimits{UINT64_MAX, UINT32_MAX}) == "ok");
  // Defaults: 50 MP, 32768 per side.
  CHECK(SourceLimits{}.max_source_pixels == 50'000'000);
  CHECK(SourceLimits{}.max_source_dimension == 32768);
  r.width = 32768;
  r.height = 1500;
  CHECK(limits_outcome(r, SourceLimits{}) == "ok");  // a panorama within the budget
  r.width = 32769;
  CHECK(limits_outcome(r, SourceLimits{}) == "over_limit");
}

TEST_CASE("probe: BMP header variants (hand-written reader)") {
  auto outcome = [](const std::string& b) { return run_probe(b); };
  {
    const Outcome o = outcome(make_bmp(40, 7, 5, 24));
    REQUIRE(o.ok());
    CHECK(o.result->width == 7);
    CHECK(o.result->height == 5);
    CHECK(o.result->channels == 3);
    CHECK_FALSE(o.result->has_alpha);
  }
  {
    const Outcome o = outcome(make_bmp(40, 7, -5, 8));  // negative height: top-down rows
    REQUIRE(o.ok());
    CHECK(o.result->height == 5);
    CHECK(o.result->channels == 1);
  }
  {
    const Outcome o = outcome(make_bmp(12, 300, 200, 24));  // OS/2 1.x core header
    REQUIRE(o.ok());
    CHECK(o.result->width == 300);
    CHECK(o.result->height == 200);
  }
  {
    const Outcome o = outcome(make_bmp(124, 4, 4, 32, 3, 0xff000000));  // V5, BI_BITFIELDS, alpha
    REQUIRE(o.ok());
    CHECK(o.result->has_alpha);
    CHECK(o.result->channels == 4);
  }
  CHECK_FALSE(outcome(make_bmp(124, 4, 4, 32, 3, 0)).result->has_alpha);  // no alpha mask
  CHECK_FALSE(outcome(make_bmp(108, 4, 4, 32, 0, 0xff000000)).result->has_alpha);  // BI_RGB: 4th byte unused
  CHECK(outcome(make_bmp(56, 4, 4, 16, 3, 0x8000)).result->has_alpha);
  {
    const Outcome o = outcome(make_bmp(40, 0, 4, 24));  // zero width: probe reports, limits refuse
    REQUIRE(o.ok());
    CHECK(o.result->width == 0);
    CHECK(limits_outcome(*o.result) == "over_limit");
  }
  CHECK(outcome(make_bmp(40, 4, 4, 24, 4)).what() == "unsupported_format");  // BI_JPEG
  CHECK(outcome(make_bmp(40, 4, 4, 24, 5)).what() == "unsupported_format");  // BI_PNG
  CHECK(outcome(make_bmp(64, 4, 4, 24)).what() == "unsupported_format");     // OS/2 2.x
  CHECK(outcome(make_bmp(40, 4, 4, 0)).what() == "malformed");
  CHECK(outcome(make_bmp(40, 4, 4, 2)).what() == "malformed");
  CHECK(outcome(make_bmp(40, 4, 4, 24, 1)).what() == "malformed");  // RLE8 needs 8 bpp
  CHECK(outcome(make_bmp(40, 4, -4, 8, 1)).what() == "malformed");  // top-down RLE
  CHECK(outcome(make_bmp(40, 4, 4, 24, 3)).what() == "malformed");  // bit fields need 16/32
  CHECK(outcome(make_bmp(40, 4, 4, 24, 9)).what() == "malformed");  // unknown compression
  CHECK(outcome(make_bmp(40, -4, 4, 24)).what() == "malformed");
  CHECK(outcome(make_bmp(40, 4, INT32_MIN, 24)).what() == "malformed");
  CHECK(outcome(make_bmp(40, 4, 4, 24, 0, 0, 64, 2)).what() == "malformed");  // planes 2
  CHECK(outcome(make_bmp(41, 4, 4, 24)).what() == "malformed");               // header size
  std::string cut = make_bmp(124, 4, 4, 32);
  cut.resize(60);
  CHECK(outcome(cut).what() == "malformed");
  std::string far = make_bmp(40, 4, 4, 24);
  far[10] = '\x7f';  // pixel data offset beyond the file
  CHECK(outcome(far).what() == "malformed");
}

TEST_CASE("probe: EXIF Orientation parsing (hand-written IFD walk), both byte orders, hostile offsets") {
  const std::string jpeg = read_file(kTestdata / "pillow/hopper.jpg");
  auto orientation = [&](const std::string& exif) {
    const Outcome o = run_probe(jpeg_with_exif(jpeg, exif));
    REQUIRE_MESSAGE(o.ok(), o.message);
    CHECK(o.result->width == 128);
    return o.result->orientation;
  };
  for (int v = 1; v <= 8; ++v) {
    CHECK(orientation(make_exif(true, 0x0112, 3, static_cast<std::uint32_t>(v))) == v);
    CHECK(orientation(make_exif(false, 0x0112, 3, static_cast<std::uint32_t>(v))) == v);
  }
  CHECK(orientation(make_exif(true, 0x0112, 4, 6)) == 6);   // LONG instead of SHORT
  CHECK(orientation(make_exif(false, 0x0112, 3, 0)) == 1);  // invalid values -> 1
  CHECK(orientation(make_exif(false, 0x0112, 3, 9)) == 1);
  CHECK(orientation(make_exif(true, 0x0112, 3, 0xFFFF)) == 1);
  CHECK(orientation(make_exif(true, 0x0112, 2, 6)) == 1);   // wrong type
  CHECK(orientation(make_exif(true, 0x0110, 3, 6)) == 1);   // another tag
  CHECK(orientation(make_exif(true, 0x0112, 3, 6, 0xFFFFFFF0)) == 1);  // IFD offset far out
  CHECK(orientation(make_exif(true, 0x0112, 3, 6, 4)) == 1);           // IFD inside the header
  CHECK(orientation(make_exif(true, 0x0112, 3, 6, 8, 0xFFFF)) == 6);   // count beyond the data
  CHECK(orientation(make_exif(true, 0x0112, 3, 6).substr(0, 12)) == 1);  // cut mid-entry
  CHECK(orientation("II") == 1);
  CHECK(orientation("") == 1);
  CHECK(orientation("XX*\0\x08\0\0\0") == 1);
}

TEST_CASE("probe: every file in the testdata tree is classified, never crashes") {
  std::map<std::string, int> counts;
  std::map<std::string, int> by_format;
  std::set<std::string> listed;
  for (const auto& e : manifest()) listed.insert(e.file);
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kTestdata)) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = fs::relative(entry.path(), kTestdata).generic_string();
    INFO(rel);
    const Outcome o = run_probe(read_file(entry.path()));
    ++files;
    if (o.ok()) {
      const std::string limits = limits_outcome(*o.result);
      CHECK(((o.result->width > 0 && o.result->height > 0) || limits == "over_limit"));
      ++counts[limits == "ok" ? "probe ok, within limits" : "probe ok, check_limits over_limit"];
      ++by_format[std::string(to_string(o.result->format))];
    } else {
      CHECK(!o.message.empty());
      ++counts[o.what()];
    }
    const std::string ext = entry.path().extension().string();
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp" || ext == ".tiff" || ext == ".bmp" ||
        ext == ".gif" || ext == ".avif" || ext == ".svg")
      CHECK_MESSAGE(listed.contains(rel), "image file not in MANIFEST.tsv");
  }
  std::ostringstream summary;
  summary << files << " files:";
  for (const auto& [k, v] : counts) summary << " " << k << " " << v << ";";
  summary << " accepted by format:";
  for (const auto& [k, v] : by_format) summary << " " << k << " " << v;
  MESSAGE(summary.str());
  CHECK(files >= static_cast<int>(manifest().size()));
}

TEST_CASE("probe: concurrent probes from several threads agree with a serial run") {
  const char* files[] = {"sharp/tifftag-photoshop.tiff", "sharp/uncompressed_tiff.tiff", "libvips/rotation-6.jpg",
                         "pngsuite/xhdn0g08.png", "imgproxy/orientation-5.png", "pillow/hopper_orientation_8.webp",
                         "libjpeg-turbo/shira_bird8.bmp", "pillow/truncated_jpeg.jpg", "sharp/corrupt-header.jpg"};
  std::vector<std::string> data;
  std::vector<std::string> expected;
  auto fingerprint = [](const Outcome& o) {
    if (!o.ok()) return o.what() + ":" + o.message;
    return std::to_string(o.result->width) + "x" + std::to_string(o.result->height) + " o" +
           std::to_string(o.result->orientation) + " a" + std::to_string(o.result->has_alpha);
  };
  for (const char* f : files) {
    data.push_back(read_file(kTestdata / f));
    expected.push_back(fingerprint(run_probe(data.back())));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        const std::size_t k = static_cast<std::size_t>(i + t) % data.size();
        try {
          if (fingerprint(run_probe(data[k])) != expected[k]) ++mismatches;
        } catch (...) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(mismatches.load() == 0);
}

TEST_CASE("probe: format names and error kinds") {
  CHECK(to_string(ImageFormat::jpeg) == "jpeg");
  CHECK(to_string(ImageFormat::png) == "png");
  CHECK(to_string(ImageFormat::webp) == "webp");
  CHECK(to_string(ImageFormat::tiff) == "tiff");
  CHECK(to_string(ImageFormat::bmp) == "bmp");
  CHECK(mime_type(ImageFormat::webp) == "image/webp");
  CHECK(to_string(ImageError::Kind::over_limit) == "over_limit");
  const ImageError e(ImageError::Kind::undecodable, "x");
  CHECK(e.kind() == ImageError::Kind::undecodable);
  CHECK(std::string(e.what()) == "x");
  // The three spellings of "bytes" give the same answer.
  const std::string png = read_file(kTestdata / "pngsuite/basn0g08.png");
  const auto* u = reinterpret_cast<const unsigned char*>(png.data());
  CHECK(probe(std::span<const unsigned char>(u, png.size())).width == 32);
  CHECK(probe(std::as_bytes(std::span<const char>(png.data(), png.size()))).width == 32);
}
