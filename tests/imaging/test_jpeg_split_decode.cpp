// The speculative parallel Huffman decoder (imaging/src/jpeg_split_decode.hpp): its
// planes must equal TurboJPEG's (decode_yuv_into) bit for bit, for real photos and
// made files of every sampling, odd sizes, any number of segments; whatever it
// leaves to libjpeg it must refuse, not guess.
#include <doctest/doctest.h>

#include <turbojpeg.h>

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "imaging_testdata.hpp"
#include "jpeg_restart.hpp"
#include "jpeg_samples.hpp"
#include "jpeg_split_decode.hpp"
#include "jpeg_yuv.hpp"

namespace im = pixelmill::imaging;
using Bytes = std::vector<std::uint8_t>;

namespace {

int ceil_div(int a, int b) { return (a + b - 1) / b; }

struct Outcome {
  bool decoded = false;       // decode_split_into took the file
  bool libjpeg_clean = false;  // decode_yuv_into decoded it without a warning
  bool equal = false;          // and the planes are the same
  im::SplitDecodeStats stats;
};

// Both decoders at 1/scale into separate planes; the planes compared when both did.
// Without `steal` the segments are the cuts made up front: the tight margins below hold
// for those positions, not for any a thief might cut at.
Outcome run(const Bytes& jpeg, int scale, int segments, std::uint64_t margin_bits = 16 * 1024 * 8,
            bool steal = false) {
  Outcome o;
  const auto header = im::read_yuv_header(jpeg);
  const auto layout = im::scan_layout(jpeg);
  REQUIRE(header.has_value());
  REQUIRE(layout.has_value());
  const int w = ceil_div(header->width, scale), h = ceil_div(header->height, scale);
  im::YuvPlanes split = im::allocate_yuv_planes(w, h, header->subsampling);
  im::YuvPlanes whole = im::allocate_yuv_planes(w, h, header->subsampling);
  // Distinct fillers: a sample neither decoder wrote cannot compare equal.
  split.y = 11, split.cb = 12, split.cr = 13;
  whole.y = 21, whole.cb = 22, whole.cr = 23;
  o.decoded = im::decode_split_into(jpeg, *layout, scale, w, h, header->subsampling, {segments, margin_bits, steal},
                                    split.view(), &o.stats);
  try {
    o.libjpeg_clean = im::decode_yuv_into(jpeg, w, h, whole.view());
  } catch (const std::exception&) {
    o.libjpeg_clean = false;
  }
  // The image's samples of Y (TurboJPEG's padding of the Y plane to whole chroma
  // samples is whatever its buffer held), all of Cb and Cr.
  const cv::Rect image(0, 0, w, h);
  o.equal = cv::norm(split.y(image), whole.y(image), cv::NORM_INF) == 0 &&
            cv::norm(split.cb, whole.cb, cv::NORM_INF) == 0 && cv::norm(split.cr, whole.cr, cv::NORM_INF) == 0;
  return o;
}

void check_exact(const Bytes& jpeg, int scale, int segments, std::uint64_t margin_bits = 16 * 1024 * 8) {
  CAPTURE(scale);
  CAPTURE(segments);
  const Outcome o = run(jpeg, scale, segments, margin_bits);
  REQUIRE(o.decoded);
  CHECK(o.libjpeg_clean);
  CHECK(o.equal);
  CHECK(o.stats.sync_bits.size() == static_cast<std::size_t>(o.stats.segments - 1));
  for (const std::int64_t bits : o.stats.sync_bits) CHECK(bits < static_cast<std::int64_t>(margin_bits));
}

// The photo losslessly rewritten as one sequential scan (TurboJPEG's transform): the
// test photos are mostly progressive, and their coefficients are real ones.
Bytes baseline(const Bytes& jpeg) {
  tjhandle handle = tjInitTransform();
  REQUIRE(handle != nullptr);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  tjtransform none{};
  none.op = TJXOP_NONE;
  none.options = TJXOPT_COPYNONE;
  const int rc = tjTransform(handle, jpeg.data(), jpeg.size(), 1, &out, &size, &none, 0);
  tjDestroy(handle);
  REQUIRE(rc == 0);
  Bytes result(out, out + size);
  tjFree(out);
  return result;
}

std::vector<std::filesystem::path> photos() {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(pixelmill::test::kTestdata / "photos"))
    if (entry.path().extension() == ".jpg") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_SUITE("jpeg_split_decode") {

TEST_CASE("real photos: identical to TurboJPEG at 1/4 and 1/8 in 1, 2 and 5 segments") {
  int decoded = 0;
  for (const auto& path : photos()) {
    CAPTURE(path.filename().string());
    const Bytes jpeg = baseline(pixelmill::test::read_bytes(path));
    const auto layout = im::scan_layout(jpeg);
    REQUIRE(layout.has_value());
    REQUIRE(layout->restart_interval == 0);
    for (const int scale : {4, 8})
      for (const int segments : {1, 2, 5}) check_exact(jpeg, scale, segments);
    // Many short segments: dozens of meeting points per photo.
    check_exact(jpeg, 4, 64, 4096);
    ++decoded;
  }
  CHECK(decoded == 6);  // 4:2:2, 4:2:0 and 4:4:4
}

TEST_CASE("a task that finishes early splits a running segment: still identical to TurboJPEG") {
  // One task more than two per thread: the first thread through its two takes the last
  // one, and each other thread, done a moment later, finds it running with nearly all
  // of its data left and takes the second half (Segments::steal), then the halves of
  // halves while enough is left. Where a thief cuts depends on timing, so the margin
  // is 32768 bits: at 1,600 cuts of these photos (31-97 segments) a segment took at
  // most 5,877 bits to synchronise.
  const int segments = 2 * cv::getNumThreads() + 1;
  int stolen = 0;
  for (const auto& path : photos()) {
    CAPTURE(path.filename().string());
    const Bytes jpeg = baseline(pixelmill::test::read_bytes(path));
    for (const int scale : {4, 8}) {
      CAPTURE(scale);
      const Outcome o = run(jpeg, scale, segments, 32768, true);
      REQUIRE(o.decoded);
      CHECK(o.equal);
      CHECK(o.stats.segments == segments + o.stats.stolen);
      CHECK(o.stats.sync_bits.size() == static_cast<std::size_t>(o.stats.segments - 1));
      stolen += o.stats.stolen;
    }
  }
  MESSAGE(stolen << " segments split off running ones in 12 decodes");
  if (cv::getNumThreads() > 1) CHECK(stolen >= 6);  // one thread runs the tasks in turn: none to steal from
}

TEST_CASE("made files: every TurboJPEG sampling, odd sizes, short segments") {
  struct Sampling {
    int h, v;
  };
  const Sampling samplings[] = {{1, 1}, {2, 1}, {2, 2}, {1, 2}, {4, 1}};
  const cv::Size sizes[] = {{1001, 777}, {35, 35}, {17, 33}, {640, 480}, {1, 1}};
  for (const cv::Size size : sizes) {
    const cv::Mat image = pixelmill::test::picture(size.width, size.height);
    for (const Sampling s : samplings) {
      CAPTURE(size);
      CAPTURE(s.h);
      CAPTURE(s.v);
      const Bytes jpeg = pixelmill::test::lib_encode(image, {s.h, s.v, 0});
      for (const int scale : {4, 8}) {
        // A margin of 8192 bits: on these made pictures (up to ~160 bits a block) a
        // segment took up to 4,823 bits to synchronise, so 4096 held only for some cuts.
        for (const int segments : {2, 3, 7}) check_exact(jpeg, scale, segments, 8192);
      }
    }
  }
}

TEST_CASE("OpenCV's 4:2:0 at q90 and q40 (other tables) in 2 segments") {
  const cv::Mat image = pixelmill::test::picture(1500, 1000);
  for (const int quality : {90, 40}) {
    Bytes jpeg;
    REQUIRE(cv::imencode(".jpg", image, jpeg, {cv::IMWRITE_JPEG_QUALITY, quality}));
    CAPTURE(quality);
    for (const int scale : {4, 8}) check_exact(jpeg, scale, 2, 4096);
  }
}

TEST_CASE("restart markers: every interval decoded straight into place, identical to TurboJPEG") {
  struct Sampling {
    int h, v;
  };
  const Sampling samplings[] = {{1, 1}, {2, 1}, {2, 2}, {1, 2}, {4, 1}};
  const cv::Size sizes[] = {{1001, 777}, {35, 35}, {640, 480}};
  for (const cv::Size size : sizes) {
    const cv::Mat image = pixelmill::test::picture(size.width, size.height);
    for (const Sampling s : samplings) {
      const int mcus_per_row = ceil_div(size.width, 8 * s.h);
      // One MCU, one row, two rows: scan_layout takes intervals that divide a row or
      // are whole rows.
      for (const int restart : {1, mcus_per_row, 2 * mcus_per_row}) {
        CAPTURE(size);
        CAPTURE(s.h);
        CAPTURE(s.v);
        CAPTURE(restart);
        const Bytes jpeg = pixelmill::test::lib_encode(image, {s.h, s.v, restart});
        const auto layout = im::scan_layout(jpeg);
        REQUIRE(layout.has_value());
        REQUIRE(layout->restart_interval == restart);
        for (const int scale : {4, 8}) {
          for (const int segments : {1, 2, 3}) {
            CAPTURE(scale);
            CAPTURE(segments);
            const Outcome o = run(jpeg, scale, segments);
            REQUIRE(o.decoded);
            CHECK(o.libjpeg_clean);
            CHECK(o.equal);
            CHECK(o.stats.sync_bits.empty());  // nothing speculative
            const int intervals = static_cast<int>(layout->restarts.size()) + 1;
            CHECK(o.stats.segments == (segments == 1 ? 1 : std::min(8 * segments, intervals)));
          }
        }
      }
    }
  }
}

TEST_CASE("restart markers, damaged: either libjpeg's exact planes, or left to libjpeg") {
  const Bytes good = pixelmill::test::cv_encode(pixelmill::test::picture(640, 480), 40);  // a marker per MCU row
  const auto layout = im::scan_layout(good);
  REQUIRE(layout.has_value());
  REQUIRE(layout->restarts.size() == 29);
  const std::size_t marker = layout->restarts[10];
  // Bytes before a marker: refused. (libjpeg skips them silently here: its bit
  // buffer has already met the marker, so the "extraneous bytes" warning is never
  // issued; being stricter only costs the fast path.)
  Bytes extra = good;
  extra.insert(extra.begin() + static_cast<std::ptrdiff_t>(marker), {0x12, 0x34});
  REQUIRE(im::scan_layout(extra).has_value());
  CHECK_FALSE(run(extra, 4, 2).decoded);
  // An interval cut short (its last bytes gone): libjpeg warns, so refused.
  const std::size_t interval_begin = layout->restarts[9] + 2;
  Bytes cut = good;
  cut.erase(cut.begin() + static_cast<std::ptrdiff_t>((interval_begin + marker) / 2),
            cut.begin() + static_cast<std::ptrdiff_t>(marker));
  if (im::scan_layout(cut)) {
    const Outcome shortened = run(cut, 4, 2);
    CHECK_FALSE(shortened.decoded);
    CHECK_FALSE(shortened.libjpeg_clean);
  }
  // Flipped bits inside the intervals: when taken, the planes are libjpeg's.
  cv::RNG rng(11);
  int taken = 0, left = 0;
  for (int trial = 0; trial < 40; ++trial) {
    Bytes bad = good;
    const auto at = static_cast<std::size_t>(rng.uniform(static_cast<int>(layout->scan_start), static_cast<int>(layout->eoi_offset)));
    bad[at] = static_cast<std::uint8_t>(bad[at] ^ (1u << rng.uniform(0, 8)));
    if (!im::scan_layout(bad)) continue;
    const Outcome o = run(bad, 4, 2);
    if (o.decoded) {
      ++taken;
      CHECK(o.libjpeg_clean);
      CHECK(o.equal);
    } else {
      ++left;
    }
  }
  CHECK(left > 0);
  MESSAGE("damaged restart files taken: " << taken << ", left to libjpeg: " << left);
}

TEST_CASE("left to libjpeg: progressive, gray, 1/1, 1/2, warnings") {
  const cv::Mat image = pixelmill::test::picture(640, 480);
  const auto refuses = [](const Bytes& jpeg, int scale) {
    const auto layout = im::scan_layout(jpeg);
    if (!layout) return true;
    const auto header = im::read_yuv_header(jpeg);
    const int w = ceil_div(layout->width, scale), h = ceil_div(layout->height, scale);
    im::YuvPlanes planes = im::allocate_yuv_planes(w, h, header ? header->subsampling : TJSAMP_420);
    return !im::decode_split_into(jpeg, *layout, scale, w, h, header ? header->subsampling : TJSAMP_420, {2, 4096, false},
                                  planes.view());
  };
  const Bytes plain = pixelmill::test::cv_encode(image, 0);
  CHECK_FALSE(refuses(plain, 4));
  CHECK(refuses(plain, 1));
  CHECK(refuses(plain, 2));  // libjpeg's SIMD 4x4 transform beats a scalar one
  CHECK(refuses(plain, 3));
  CHECK(refuses(pixelmill::test::cv_encode(image, 0, true), 4));
  CHECK(refuses(pixelmill::test::cv_encode(pixelmill::test::picture(640, 480, 1), 0), 4));
  // Bytes between two header segments: libjpeg warns ("extraneous bytes").
  Bytes junk = plain;
  const auto layout = im::scan_layout(plain);
  REQUIRE(layout.has_value());
  junk.insert(junk.begin() + static_cast<std::ptrdiff_t>(layout->sof_offset), {0x12, 0x34});
  REQUIRE(im::scan_layout(junk).has_value());
  CHECK(im::scan_layout(junk)->header_warning);
  CHECK(refuses(junk, 4));
}

TEST_CASE("wild coefficients, where libjpeg's C and SIMD transforms disagree, are left to libjpeg") {
  // libjpeg-turbo's SSE2 2x2 transform dequantises in 16 bits and saturates where
  // jidctred.c does not; TurboJPEG runs the SIMD one. One block with a coefficient
  // no encoder of real pictures writes (but a corrupt or crafted file can hold), in
  // the first segment and, for two segments, in the second one's true part.
  // Quality 30: quantisers large enough that a coefficient within baseline's range
  // (AC up to 1023, DC up to 2047) dequantises past 16 bits.
  Bytes plain;
  REQUIRE(cv::imencode(".jpg", pixelmill::test::picture(640, 480), plain, {cv::IMWRITE_JPEG_QUALITY, 30}));
  for (const int segments : {1, 2}) {
    check_exact(plain, 4, segments, 4096);
    check_exact(plain, 8, segments, 4096);
  }
  using pixelmill::test::with_coefficient;
  const int last_row = 480 / 8 - 2;  // in the second segment's true part for 2 segments
  for (const int block_row : {1, last_row}) {
    CAPTURE(block_row);
    // Row 0, column 7: the q30 luma table has 102 there; 1000 * 102 > 32767.
    const Bytes ac = with_coefficient(plain, 0, block_row, 3, 7, 1000);
    // The DC term: 400 * 27 (the q30 DC quantiser) > 8191 dequantised.
    const Bytes dc = with_coefficient(plain, 0, block_row, 3, 0, 400);
    for (const Bytes* wild : {&ac, &dc}) {
      for (const int segments : {1, 2}) {
        CAPTURE(segments);
        const Outcome quarter = run(*wild, 4, segments, 4096);
        CHECK_FALSE(quarter.decoded);
        CHECK(quarter.libjpeg_clean);  // libjpeg decodes it without a warning: only the samples differ
        // 1/8: libjpeg has no SIMD 1x1 transform, so every build agrees and the file is taken.
        const Outcome eighth = run(*wild, 8, segments, 4096);
        CHECK(eighth.decoded);
        CHECK(eighth.equal);
      }
    }
  }
}

TEST_CASE("damaged data: either libjpeg's exact planes, or left to libjpeg") {
  const cv::Mat image = pixelmill::test::picture(640, 480);
  const Bytes good = pixelmill::test::cv_encode(image, 0);
  const auto layout = im::scan_layout(good);
  REQUIRE(layout.has_value());
  const std::size_t begin = layout->scan_start, end = layout->eoi_offset;

  // Truncated (EOI moved up) and padded with extra bytes before EOI: libjpeg warns.
  Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>((begin + end) / 2));
  if (cut.back() == 0xFF) cut.pop_back();
  cut.insert(cut.end(), {0xFF, 0xD9});
  const Outcome truncated = run(cut, 4, 2, 4096);
  CHECK_FALSE(truncated.decoded);
  CHECK_FALSE(truncated.libjpeg_clean);
  Bytes extra = good;
  extra.insert(extra.begin() + static_cast<std::ptrdiff_t>(end), 64, 0x55);
  CHECK_FALSE(run(extra, 4, 2, 4096).decoded);

  // Flipped bits: when the split decoder takes the file, the planes are libjpeg's.
  cv::RNG rng(7);
  int taken = 0, left = 0;
  for (int trial = 0; trial < 60; ++trial) {
    Bytes bad = good;
    for (int flips = 0; flips < 1 + trial % 3; ++flips) {
      const std::size_t at = begin + static_cast<std::size_t>(rng.uniform(0, static_cast<int>(end - begin)));
      bad[at] = static_cast<std::uint8_t>(bad[at] ^ (1u << rng.uniform(0, 8)));
    }
    if (!im::scan_layout(bad)) continue;  // a marker appeared: not ours
    CAPTURE(trial);
    const Outcome o = run(bad, 1 << (1 + trial % 3), 1 + trial % 4, 4096);
    if (o.decoded) {
      CHECK(o.libjpeg_clean);
      CHECK(o.equal);
      ++taken;
    } else {
      ++left;
    }
  }
  CHECK(taken + left > 40);
  MESSAGE("damaged files taken: " << taken << ", left to libjpeg: " << left);
}

}  // TEST_SUITE
