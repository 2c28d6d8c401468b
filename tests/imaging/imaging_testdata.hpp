#pragma once
// Shared by the imaging tests: real files of ../shared/testdata (read in place, never
// copied), and decoding and comparing transform() outputs.
#include <doctest/doctest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "pixelmill/imaging/transform.hpp"

namespace pixelmill::test {

inline const std::filesystem::path kTestdata =
    std::filesystem::path(PIXELMILL_SOURCE_DIR) / ".." / "shared" / "testdata";

inline std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A file of ../shared/testdata, e.g. load("pngsuite/basn0g01.png").
inline std::vector<std::uint8_t> load(const std::string& relative) { return read_bytes(kTestdata / relative); }

inline cv::Mat decode(const std::vector<std::uint8_t>& bytes, int flags = cv::IMREAD_UNCHANGED) {
  const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<std::uint8_t*>(bytes.data()));
  return cv::imdecode(buffer, flags);
}

inline cv::Mat decode(const imaging::Transformed& t, int flags = cv::IMREAD_UNCHANGED) {
  return decode(t.bytes, flags);
}

// Mean absolute difference per sample (0..255) of two images of one size and type.
inline double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE(a.type() == b.type());
  return cv::norm(a, b, cv::NORM_L1) / static_cast<double>(a.total() * a.channels());
}

}  // namespace pixelmill::test
