// Replays the fuzz targets' entry points (tests/fuzz/entry_points.hpp) under the normal
// g++ build, so the release, ASan+UBSan and TSan configurations run them too:
//   - every file in tests/fuzz/regressions/<target>/: reproducers of bugs the fuzzers
//     found (see tests/fuzz/run), kept once fixed;
//   - the hand-written seeds in tests/fuzz/seeds/;
//   - truncations and header corruptions of a few ../shared/testdata images, made
//     here at run time: the inputs fuzzing starts from.
// An entry point aborts on a bug, so a failure here is a crash with the file's name in
// the last INFO line.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <opencv2/core/utility.hpp>

#include "../fuzz/entry_points.hpp"

namespace fs = std::filesystem;
namespace fuzz = pixelmill::fuzz;

namespace {

const fs::path source_dir = PIXELMILL_SOURCE_DIR;

// OpenCV's parallel loops on the calling thread, as in the fuzz targets: Debian's
// default backend is TBB, whose threads TSan cannot see into (the service and the
// imaging tests use pixelmill's CPU pool instead).
void sequential_opencv() { cv::setNumThreads(0); }

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Regular files under `dir` (none when it does not exist), in a stable order.
std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

int replay(fuzz::EntryPoint run, const fs::path& dir) {
  int count = 0;
  for (const auto& file : files_under(dir)) {
    INFO(file.string());
    run(read_bytes(file));
    ++count;
  }
  return count;
}

// Every prefix up to 96 bytes (the headers), then 16 evenly spaced cut points.
std::vector<std::size_t> cut_points(std::size_t size) {
  std::vector<std::size_t> cuts;
  for (std::size_t n = 0; n < std::min<std::size_t>(size, 96); ++n) cuts.push_back(n);
  for (std::size_t k = 1; k < 16; ++k) cuts.push_back(size * k / 16);
  return cuts;
}

}  // namespace

TEST_CASE("fuzz regressions: every kept reproducer runs clean") {
  sequential_opencv();
  int total = 0;
  for (const auto& target : fuzz::targets) {
    const fs::path dir = source_dir / "tests/fuzz/regressions" / std::string(target.name);
    CAPTURE(target.name);
    total += replay(target.run, dir);
  }
  MESSAGE(total << " reproducers replayed");
}

TEST_CASE("fuzz seeds: the parsers' hand-made seeds run clean") {
  CHECK(replay(fuzz::image_params_one, source_dir / "tests/fuzz/seeds/params") > 5);
  CHECK(replay(fuzz::multipart_one, source_dir / "tests/fuzz/seeds/multipart") > 5);
  sequential_opencv();
  CHECK(replay(fuzz::restart_one, source_dir / "tests/fuzz/seeds/restart") >= 4);
  CHECK(replay(fuzz::split_one, source_dir / "tests/fuzz/seeds/split") >= 9);
}

TEST_CASE("fuzz entry points: truncated and corrupted testdata images") {
  sequential_opencv();
  const fs::path testdata = source_dir / "../shared/testdata";
  // One small image per accepted format (and one progressive, one CMYK JPEG).
  const char* const images[] = {
      "pngsuite/basn2c08.png",           "pngsuite/basi6a16.png",
      "pillow/pil_sample_cmyk.jpg",      "pillow/hopper_orientation_6.webp",
      "libjpeg-turbo/shira_bird8.bmp",   "sharp/uncompressed_tiff.tiff",
      "libjpeg-turbo/testorig.jpg",
  };
  for (const char* name : images) {
    const auto bytes = read_bytes(testdata / name);
    if (bytes.empty()) continue;  // an image missing from testdata is not this test's concern
    INFO(name);
    fuzz::probe_one(bytes);
    fuzz::decode_one(bytes);
    fuzz::split_one(bytes);
    for (const std::size_t cut : cut_points(bytes.size())) {
      INFO("first " << cut << " bytes");
      const std::span<const std::uint8_t> prefix(bytes.data(), cut);
      fuzz::probe_one(prefix);
      fuzz::decode_one(prefix);
      fuzz::split_one(prefix);
    }
    // Header bytes set to 0x00 and 0xFF, one at a time: sizes, lengths, offsets.
    for (std::size_t at = 0; at < std::min<std::size_t>(bytes.size(), 48); ++at) {
      for (const std::uint8_t value : {std::uint8_t{0x00}, std::uint8_t{0xFF}}) {
        INFO("byte " << at << " = " << int{value});
        auto changed = bytes;
        changed[at] = value;
        fuzz::probe_one(changed);
        fuzz::decode_one(changed);
        fuzz::split_one(changed);
      }
    }
  }
}
