// imaging/src/area_shrink.hpp against cv::resize(INTER_AREA): within one level
// everywhere, exact on flat images, the cases it leaves to cv::resize, and the
// transform pipelines that use it.
#include <doctest/doctest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdint>

#include "area_shrink.hpp"
#include "imaging_testdata.hpp"
#include "pixelmill/imaging/transform.hpp"

using pixelmill::imaging::area_shrink;

namespace {

cv::Mat opencv_area(const cv::Mat& image, cv::Size target) {
  cv::Mat out;
  cv::resize(image, out, target, 0, 0, cv::INTER_AREA);
  return out;
}

// The largest difference from cv::resize, and the share of samples that differ at all.
struct Difference {
  double max = 0, share = 0;
};

Difference against_opencv(const cv::Mat& image, cv::Size target) {
  const auto ours = area_shrink(image, target);
  REQUIRE(ours.has_value());
  REQUIRE(ours->size() == target);
  REQUIRE(ours->type() == image.type());
  const cv::Mat theirs = opencv_area(image, target);
  cv::Mat diff;
  cv::absdiff(*ours, theirs, diff);
  const cv::Mat flat = diff.reshape(1);
  return {cv::norm(flat, cv::NORM_INF), static_cast<double>(cv::countNonZero(flat)) / static_cast<double>(flat.total())};
}

cv::Mat noise(cv::Size size, int type) {
  cv::Mat m(size, type);
  cv::randu(m, 0, 256);
  return m;
}

}  // namespace

TEST_CASE("area_shrink: within one level of INTER_AREA on noise, any ratio and channel count") {
  cv::theRNG().state = 7;
  const cv::Size sources[] = {{1500, 1000}, {1001, 751}, {37, 23}, {640, 7}};
  const cv::Size targets[] = {{800, 533}, {999, 750}, {5, 3}, {1, 1}, {333, 2}, {17, 5}, {201, 150}};
  for (const int type : {CV_8UC1, CV_8UC2, CV_8UC3, CV_8UC4}) {
    for (const cv::Size source : sources) {
      for (const cv::Size target : targets) {
        if (target.width > source.width || target.height > source.height) continue;
        if (source.width % target.width == 0 && source.height % target.height == 0) continue;
        CAPTURE(type);
        CAPTURE(source);
        CAPTURE(target);
        const Difference d = against_opencv(noise(source, type), target);
        CHECK(d.max <= 1);
        // Only near-ties round the other way (float weights against 1/16384ths); a
        // shifted cell would move a third or more. Tiny outputs have too few samples.
        if (target.area() >= 1000) CHECK(d.share < 0.01);
      }
    }
  }
}

TEST_CASE("area_shrink: a photo's luma plane as the JPEG pipeline shrinks it") {
  const cv::Mat gray = pixelmill::test::decode(pixelmill::test::load("photos/Bridge_by_Sander_Klootwijk.jpg"),
                                               cv::IMREAD_GRAYSCALE);
  REQUIRE(!gray.empty());
  for (const cv::Size target : {cv::Size(800, gray.rows * 800 / gray.cols), cv::Size(301, 201), cv::Size(gray.cols, gray.rows - 1)}) {
    CAPTURE(target);
    const Difference d = against_opencv(gray, target);
    CHECK(d.max <= 1);
    CHECK(d.share < 0.01);
  }
}

TEST_CASE("area_shrink: a flat image stays exactly flat") {
  for (const int level : {0, 1, 128, 254, 255}) {
    CAPTURE(level);
    const cv::Mat flat(cv::Size(1003, 607), CV_8UC3, cv::Scalar(level, 255 - level, level / 2));
    const auto out = area_shrink(flat, cv::Size(401, 300));
    REQUIRE(out.has_value());
    CHECK(cv::norm(*out, cv::Mat(out->size(), CV_8UC3, cv::Scalar(level, 255 - level, level / 2)), cv::NORM_INF) == 0);
  }
}

TEST_CASE("area_shrink: an edge keeps INTER_AREA's cell boundaries") {
  // Left half black, right half white: which output column straddles the edge, and by
  // how much, comes from the cells; a cell off by one sample would differ by ~100 levels.
  cv::Mat edge(cv::Size(1500, 10), CV_8UC1, cv::Scalar(0));
  edge(cv::Rect(751, 0, 749, 10)).setTo(255);
  const auto ours = area_shrink(edge, cv::Size(800, 5));
  REQUIRE(ours.has_value());
  CHECK(cv::norm(*ours, opencv_area(edge, cv::Size(800, 5)), cv::NORM_INF) <= 1);
  // Output column 400 covers source [750, 751.875): black 750 whole, white 751 by 7/8.
  CHECK(ours->at<std::uint8_t>(0, 400) == 119);  // 255 * 0.875 / 1.875 = 119.0
}

TEST_CASE("area_shrink: leaves growing, whole ratios and other depths to cv::resize") {
  const cv::Mat gray = noise({100, 80}, CV_8UC1);
  CHECK_FALSE(area_shrink(gray, {101, 40}).has_value());   // grows in x
  CHECK_FALSE(area_shrink(gray, {50, 40}).has_value());    // 2x2: OpenCV's SIMD path
  CHECK_FALSE(area_shrink(gray, {0, 40}).has_value());
  CHECK_FALSE(area_shrink(noise({100, 80}, CV_16UC1), {60, 40}).has_value());
  CHECK_FALSE(area_shrink(noise({100, 80}, CV_32FC3), {60, 40}).has_value());
  CHECK_FALSE(area_shrink(cv::Mat(), {1, 1}).has_value());
  CHECK(area_shrink(gray, {60, 40}).has_value());  // 5/3 by 2: not whole on both axes
}

TEST_CASE("area_shrink: the transform shrinks with it, also the shrinking axis of a fill that grows the other") {
  namespace im = pixelmill::imaging;
  cv::theRNG().state = 11;
  const cv::Mat image = noise({640, 480}, CV_8UC3);
  std::vector<std::uint8_t> png;
  REQUIRE(cv::imencode(".png", image, png));
  const auto transformed = [&](int w, int h) {
    im::TransformOptions options;
    options.width = w;
    options.height = h;
    options.fit = im::Fit::fill;
    options.enlarge = true;
    options.format = im::OutputFormat::png;  // lossless: the resized pixels as they are
    return pixelmill::test::decode(im::transform(png, options, im::SourceLimits{}));
  };
  // Both axes shrink: area_shrink alone.
  CHECK(cv::norm(transformed(400, 300), *area_shrink(image, {400, 300}), cv::NORM_INF) == 0);
  // x grows, y shrinks by 1.6: area_shrink to 640x300, then INTER_CUBIC to 800x300.
  cv::Mat expected;
  cv::resize(*area_shrink(image, {640, 300}), expected, {800, 300}, 0, 0, cv::INTER_CUBIC);
  const cv::Mat fill = transformed(800, 300);
  CHECK(cv::norm(fill, expected, cv::NORM_INF) == 0);
  // And what cv::resize's INTER_AREA would have given differs, so the check can tell.
  cv::Mat with_opencv;
  cv::resize(opencv_area(image, {640, 300}), with_opencv, {800, 300}, 0, 0, cv::INTER_CUBIC);
  CHECK(cv::norm(fill, with_opencv, cv::NORM_INF) > 0);
  CHECK(cv::norm(fill, with_opencv, cv::NORM_INF) <= 2);
}
