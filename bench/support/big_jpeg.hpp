#pragma once
// The big-image benchmarks' input (peers' big phase, split_decode).
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <string>
#include <vector>

namespace pixelmill::bench {

// A 24 MP camera-sized JPEG with a photo's detail density: the first four photos,
// each scaled to 3000x2000, as a 2x2 mosaic of 6000x4000; q90, libjpeg's default 4:2:0,
// optionally with a restart marker after every MCU row (as hardware encoders write).
inline std::string big_jpeg(const std::vector<std::string>& photos, bool restart_markers) {
  constexpr int width = 6000, height = 4000, mcu = 16;
  cv::Mat big(height, width, CV_8UC3);
  for (int i = 0; i < 4; ++i) {
    const auto& photo = photos[static_cast<std::size_t>(i) % photos.size()];
    const cv::Mat tile = cv::imdecode(
        cv::Mat(1, static_cast<int>(photo.size()), CV_8UC1, const_cast<char*>(photo.data())), cv::IMREAD_COLOR);
    cv::resize(tile, big(cv::Rect(i % 2 * width / 2, i / 2 * height / 2, width / 2, height / 2)),
               cv::Size(width / 2, height / 2), 0, 0, cv::INTER_AREA);
  }
  std::vector<int> params{cv::IMWRITE_JPEG_QUALITY, 90};
  if (restart_markers) params.insert(params.end(), {cv::IMWRITE_JPEG_RST_INTERVAL, (width + mcu - 1) / mcu});
  std::vector<unsigned char> bytes;
  cv::imencode(".jpg", big, bytes, params);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace pixelmill::bench
