// Decompression bombs and liars (issue 6): every bomb, flood and lying or corrupt header
// that ../shared/testdata's MANIFEST.tsv lists, plus a few crafted here, POSTed to
// /v1/resize?w=200 of the real binary (a child process, so its memory is the
// server's alone). Each gets its exact documented answer — status and problem type —
// within 1 s, and the server's resident memory, peaks included, grows by less than
// 64 MB.
//
// test_testdata_sweep.cpp sends every testdata file and checks "an exact-size image or
// some 4xx" with a 1.5 GB RSS ceiling; this test pins the exact answer for each hostile
// file and measures time and memory per request.
//
// Time and memory are asserted only in an optimised build without sanitizers: ASan's
// quarantine keeps freed memory resident (up to 256 MB by design) and sanitized or
// unoptimised decoders run several times slower, so there the answers are checked and
// the numbers only reported.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "binary_service.hpp"
#include "http_client.hpp"
#include "pixelmill/imaging/probe.hpp"
#include "temp_dir.hpp"

using namespace pixelmill;
namespace fs = std::filesystem;
using test::http::verb;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || !defined(NDEBUG)
constexpr bool measured = false;
#else
constexpr bool measured = true;
#endif
constexpr double max_seconds = 1.0;
constexpr double max_growth_mb = 64.0;

const fs::path testdata = fs::path(PIXELMILL_SOURCE_DIR) / "../shared/testdata";

// The documented answer: a problem type for 415/422, or "" for a 200 whose image has
// `width` (the source's, as w=200 never enlarges).
struct Expected {
  unsigned status;
  std::string type;
  unsigned width = 0;
};

Expected refused(unsigned status, const std::string& slug) { return {status, slug}; }
Expected image(unsigned width) { return {200, "", width}; }

// Every MANIFEST.tsv row the selection below picks must be here, and nothing else.
const std::map<std::string, Expected>& testdata_answers() {
  static const std::map<std::string, Expected> answers = {
      // Pixel floods: refused from the header, before any pixel is allocated.
      {"fuzzdb/lottapixel.jpg", refused(422, "over-limit")},
      {"pillow/reallybig.bmp", refused(422, "over-limit")},
      {"sharp/65536-uint32-limit.png", refused(422, "over-limit")},
      {"sharp/giant-image.jpg", refused(422, "over-limit")},
      // GIF and AVIF bombs (frame flood, huge extents, zero width): not accepted formats.
      {"fuzzdb/uber.gif", refused(415, "unsupported-format")},
      {"pillow/decompression_bomb.gif", refused(415, "unsupported-format")},
      {"pillow/decompression_bomb_extents.gif", refused(415, "unsupported-format")},
      {"pillow/zero_width.gif", refused(415, "unsupported-format")},
      {"libvips/truncated.gif", refused(415, "unsupported-format")},
      {"libvips/17000x17000.avif", refused(415, "unsupported-format")},
      // Text-chunk bomb: a valid 1x1 image whose 3 zTXt chunks (6 MB inflated) are
      // never inflated, so the image is served.
      {"pillow/png_decompression_dos.png", image(1)},
      // Liars: the header promises pixel data the file does not hold, or is corrupt.
      {"imgproxy/bmp-invalid-bpp.bmp", refused(415, "malformed-image")},
      {"pillow/broken.png", refused(415, "malformed-image")},
      {"pillow/broken_data_stream.png", refused(415, "undecodable-image")},
      {"pillow/truncated_end_chunk.png", refused(415, "undecodable-image")},
      {"pillow/truncated_image.png", refused(415, "undecodable-image")},
      {"pillow/truncated_jpeg.jpg", refused(415, "undecodable-image")},
      {"pillow/ultrahdr.jpg", refused(415, "undecodable-image")},
      {"sharp/corrupt-header.jpg", refused(415, "malformed-image")},
      {"sharp/truncated.jpg", refused(415, "undecodable-image")},
      {"sharp/truncated.png", refused(415, "undecodable-image")},
      // Its iCCP chunk's compression method is invalid; the pixels are fine.
      {"pillow/unknown_compression_method.png", image(57)},
      // PngSuite's deliberately corrupt files.
      {"pngsuite/xc1n0g08.png", refused(415, "malformed-image")},
      {"pngsuite/xc9n2c08.png", refused(415, "malformed-image")},
      {"pngsuite/xcrn0g04.png", refused(415, "malformed-image")},
      {"pngsuite/xcsn0g01.png", refused(415, "undecodable-image")},
      {"pngsuite/xd0n2c08.png", refused(415, "malformed-image")},
      {"pngsuite/xd3n2c08.png", refused(415, "malformed-image")},
      {"pngsuite/xd9n2c08.png", refused(415, "malformed-image")},
      {"pngsuite/xdtn0g01.png", refused(415, "malformed-image")},
      {"pngsuite/xhdn0g08.png", refused(415, "malformed-image")},
      {"pngsuite/xlfn0g04.png", refused(415, "malformed-image")},
      {"pngsuite/xs1n0g01.png", refused(415, "unsupported-format")},
      {"pngsuite/xs2n0g01.png", refused(415, "unsupported-format")},
      {"pngsuite/xs4n0g01.png", refused(415, "unsupported-format")},
      {"pngsuite/xs7n0g01.png", refused(415, "malformed-image")},
  };
  return answers;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, separator);) fields.push_back(field);
  return fields;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// MANIFEST.tsv rows (file, source, format, size, what it tests, licence) that are
// bombs or liars: a declared (not real) or corrupt size, or a bomb/flood description.
std::set<std::string> manifest_bombs_and_liars() {
  std::ifstream in(testdata / "MANIFEST.tsv");
  REQUIRE(in.good());
  std::set<std::string> files;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    const auto f = split(line, '\t');
    if (f.size() < 5) continue;
    const std::string what = lower(f[4]);
    if (f[3].find("declared") != std::string::npos || f[3].find("corrupt") != std::string::npos ||
        what.find("bomb") != std::string::npos || what.find("flood") != std::string::npos) {
      files.insert(f[0]);
    }
  }
  return files;
}

// ---- crafted inputs ---------------------------------------------------------------

std::uint32_t crc32(const std::string& bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  return be32(static_cast<std::uint32_t>(data.size())) + type + data + be32(crc32(type + data));
}

std::string png_ihdr(std::uint32_t width, std::uint32_t height, char colour_type) {
  return png_chunk("IHDR", be32(width) + be32(height) + std::string{8, colour_type, 0, 0, 0});
}

// A stored (uncompressed) zlib stream: no zlib needed to build the test inputs.
std::string zlib_stored(const std::string& data) {
  std::string out = "\x78\x01";
  std::size_t at = 0;
  do {
    const std::size_t n = std::min<std::size_t>(data.size() - at, 65535);
    const bool last = at + n == data.size();
    out += static_cast<char>(last ? 1 : 0);
    out += static_cast<char>(n & 0xFF);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(~n & 0xFF);
    out += static_cast<char>((~n >> 8) & 0xFF);
    out += data.substr(at, n);
    at += n;
  } while (at < data.size());
  std::uint32_t a = 1, b = 0;  // Adler-32
  for (const unsigned char c : data) a = (a + c) % 65521, b = (b + a) % 65521;
  return out + be32((b << 16) | a);
}

const std::string png_signature = "\x89PNG\r\n\x1a\n";

// A 1x1 grey PNG whose zTXt chunks each inflate to 8 MB of zeros (a deflate stream of
// one repeated byte: 8 MB in ~8 KB). Before the fix OpenCV's libpng inflated them all:
// 50 chunks cost 13 s of CPU.
std::string ztxt_flood_png(int chunks) {
  // Fixed-Huffman deflate of 8,000,000 zero bytes: a literal 0, then length-258
  // back-references at distance 1. Bit-level writer, LSB first.
  std::string deflate;
  std::uint32_t bits = 0;
  int count = 0;
  const auto put = [&](std::uint32_t value, int n) {  // value's low n bits, LSB first
    for (int i = 0; i < n; ++i) {
      bits |= ((value >> i) & 1u) << count;
      if (++count == 8) deflate += static_cast<char>(bits), bits = 0, count = 0;
    }
  };
  const auto put_code = [&](std::uint32_t code, int n) {  // Huffman codes: MSB first
    for (int i = n - 1; i >= 0; --i) put((code >> i) & 1u, 1);
  };
  put(1, 1);            // BFINAL
  put(1, 2);            // BTYPE = fixed Huffman
  put_code(0x30, 8);    // literal 0
  for (int i = 0; i < 8'000'000 / 258; ++i) {
    put_code(0xC5, 8);  // length code 285 (258): 11000101
    put_code(0, 5);     // distance code 0 (distance 1)
  }
  put_code(0, 7);       // end of block (256)
  if (count > 0) deflate += static_cast<char>(bits);
  // Adler-32 of n zeros: a stays 1, b = n.
  const std::size_t produced = 1 + std::size_t{8'000'000 / 258} * 258;
  const std::string zlib = "\x78\x01" + deflate + be32(static_cast<std::uint32_t>(produced % 65521) << 16 | 1u);

  std::string png = png_signature + png_ihdr(1, 1, 0);
  const std::string text = png_chunk("zTXt", std::string("bomb\0\0", 6) + zlib);
  for (int i = 0; i < chunks; ++i) png += text;
  return png + png_chunk("IDAT", zlib_stored(std::string(2, '\0'))) + png_chunk("IEND", "");
}

// A 1x1 PNG whose eXIf chunk declares 2 GB: libpng's eXIf reader allocated that much
// before reading (found by fuzz_probe).
std::string exif_claims_2gb_png() {
  return png_signature + png_ihdr(1, 1, 0) + be32(0x7FFFFFF0u) + "eXIf" + "MM" + std::string(62, '\0') +
         png_chunk("IDAT", zlib_stored(std::string(2, '\0'))) + png_chunk("IEND", "");
}

// 49 MP (within the limits) in the header, two rows of pixel data.
std::string pixel_liar_png() {
  const std::uint32_t side = 7000;
  std::string rows;
  for (int r = 0; r < 2; ++r) rows += '\0' + std::string(side * 4, '\x80');
  return png_signature + png_ihdr(side, side, 6) + png_chunk("IDAT", zlib_stored(rows)) + png_chunk("IEND", "");
}

// A real progressive photo with 1,000 empty AC scans of its luma before EOI: libjpeg
// walks the whole coefficient buffer once per scan (10,000 scans took minutes).
std::string scan_flood_jpeg() {
  std::string jpeg = read_file(testdata / "photos/seeding_by_Clements_Engelhardt.jpg");
  const auto eoi = jpeg.rfind("\xFF\xD9");
  REQUIRE(eoi != std::string::npos);
  const std::string scan("\xFF\xDA\x00\x08\x01\x01\x00\x01\x3F\x00", 10);
  std::string flood;
  for (int i = 0; i < 1000; ++i) flood += scan;
  return jpeg.substr(0, eoi) + flood + "\xFF\xD9";
}

// A BMP 0 pixels wide (BMP, unlike PNG, allows it in the header).
std::string zero_width_bmp() {
  const auto le32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 24)};
  };
  std::string bmp = "BM" + le32(58) + le32(0) + le32(54);
  bmp += le32(40) + le32(0) + le32(32) + std::string("\x01\x00\x18\x00", 4) + le32(0) + le32(4);
  bmp += le32(2835) + le32(2835) + le32(0) + le32(0);
  return bmp + std::string(4, '\0');
}

struct Case {
  std::string name;
  std::string bytes;
  Expected expected;
};

std::vector<Case> crafted_cases() {
  return {
      {"crafted: 1x1 PNG + 100 zTXt chunks of 8 MB inflated", ztxt_flood_png(100), image(1)},
      {"crafted: PNG whose eXIf chunk declares 2 GB", exif_claims_2gb_png(), refused(415, "malformed-image")},
      {"crafted: 7000x7000 PNG with two rows of data", pixel_liar_png(), refused(415, "undecodable-image")},
      {"crafted: progressive JPEG + 1,000 empty scans", scan_flood_jpeg(), refused(422, "over-limit")},
      {"crafted: BMP 0 pixels wide", zero_width_bmp(), refused(422, "over-limit")},
  };
}

// ---- the server's memory ----------------------------------------------------------

// The pid of our child running `binary` (ChildProcess does not expose it).
pid_t child_running(const fs::path& binary) {
  const auto target = fs::canonical(binary);
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream children(task.path() / "children");
    for (pid_t pid; children >> pid;) {
      std::error_code ec;
      if (fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec) == target) return pid;
    }
  }
  return -1;
}

// VmRSS or VmHWM (peak) of `pid` in MB.
double status_mb(pid_t pid, const std::string& key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(key + ":")) return std::stod(line.substr(key.size() + 1)) / 1024.0;
  }
  return 0;
}

// Resets the peak (VmHWM) to the current RSS (Linux >= 4.0); false if not allowed.
bool reset_peak(pid_t pid) {
  std::ofstream clear("/proc/" + std::to_string(pid) + "/clear_refs");
  clear << "5";
  clear.flush();
  return clear.good();
}

struct Measured {
  std::string name;
  unsigned status = 0;
  std::string type;
  double seconds = 0;
  double peak_growth_mb = 0;  // over the RSS before this request
};

std::string problem_type(const test::StringResponse& res) {
  const auto body = boost::json::parse(res.body()).as_object();
  const std::string type(body.at("type").as_string());
  const std::string prefix = "urn:pixelmill:problem:";
  return type.starts_with(prefix) ? type.substr(prefix.size()) : type;
}

}  // namespace

TEST_CASE("MANIFEST.tsv: every bomb and liar in testdata has its documented answer here") {
  std::set<std::string> listed;
  for (const auto& [file, expected] : testdata_answers()) listed.insert(file);
  const auto manifest = manifest_bombs_and_liars();
  for (const auto& file : manifest) CHECK_MESSAGE(listed.count(file) == 1, "no expected answer for " << file);
  for (const auto& file : listed) CHECK_MESSAGE(manifest.count(file) == 1, file << " is not a bomb or liar in MANIFEST.tsv");
}

TEST_CASE("bombs and liars: exact 415/422 (or a bounded 200) within 1 s each, RSS growth < 64 MB") {
  std::vector<Case> cases;
  for (const auto& [file, expected] : testdata_answers()) cases.push_back({file, read_file(testdata / file), expected});
  for (auto& c : crafted_cases()) cases.push_back(std::move(c));

  const test::TempDir data("pixelmill-bombs");
  auto server = test::start_binary({"--listen", "127.0.0.1:0", "--data-dir", data.path().string(),
                                    "--io-threads", "1", "--cpu-threads", "2"});
  const pid_t pid = child_running(PIXELMILL_BINARY);
  REQUIRE(pid > 0);
  auto client = std::make_unique<test::HttpClient>(server.port);
  const auto post = [&](const std::string& bytes) {
    auto res = client->request(verb::post, "/v1/resize?w=200", bytes, {{"Content-Type", "application/octet-stream"}});
    if (!res.keep_alive()) client = std::make_unique<test::HttpClient>(server.port);
    return res;
  };
  // Warm-up: codecs, thread stacks and allocator arenas belong to the baseline.
  for (const char* warm : {"pngsuite/basn6a08.png", "libjpeg-turbo/testorig.jpg", "pillow/hopper_orientation_6.webp"}) {
    REQUIRE(post(read_file(testdata / warm)).result_int() == 200);
  }
  const bool peaks = reset_peak(pid);
  const double baseline_mb = status_mb(pid, "VmRSS");

  std::vector<Measured> results;
  for (const auto& c : cases) {
    INFO(c.name);
    if (peaks) reset_peak(pid);
    const double before_mb = status_mb(pid, "VmRSS");
    const auto start = std::chrono::steady_clock::now();
    const auto res = post(c.bytes);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Measured m{c.name, res.result_int(), "", seconds,
               (peaks ? status_mb(pid, "VmHWM") : status_mb(pid, "VmRSS")) - before_mb};
    CHECK(m.status == c.expected.status);
    if (c.expected.type.empty()) {
      REQUIRE(m.status == 200);
      const auto probed = imaging::probe(std::string_view(res.body()));
      CHECK(probed.width == c.expected.width);
    } else {
      CHECK(res[test::http::field::content_type] == "application/problem+json");
      m.type = problem_type(res);
      CHECK(m.type == c.expected.type);
    }
    if (measured) {
      CHECK(m.seconds < max_seconds);
      CHECK(m.peak_growth_mb < max_growth_mb);
    }
    results.push_back(m);
  }
  const double growth_mb = status_mb(pid, "VmRSS") - baseline_mb;
  if (measured) CHECK(growth_mb < max_growth_mb);

  std::ostringstream table;
  table << "file | status | type | seconds | peak RSS growth MB" << (peaks ? "" : " (VmRSS only)") << "\n";
  for (const auto& m : results) {
    table << m.name << " | " << m.status << " | " << (m.type.empty() ? "-" : m.type) << " | " << m.seconds << " | "
          << m.peak_growth_mb << "\n";
  }
  table << "RSS growth across all " << results.size() << " requests: " << growth_mb << " MB (baseline "
        << baseline_mb << " MB)" << (measured ? "" : "; time and memory not asserted in this build");
  MESSAGE(table.str());
}
