#pragma once
// JPEG files made for the imaging tests: a photo-like picture, encoded by OpenCV (the
// 4:2:0 files the service meets) or by libjpeg directly (other samplings, restart
// intervals, and the kinds the fast paths refuse: progressive, arithmetic, multi-scan).
#include <doctest/doctest.h>

#include <cstdio>  // before jpeglib.h
#include <jpeglib.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace pixelmill::test {

// A gradient with noise: every block has detail, chroma varies from row to row (so
// upsampling across band edges shows), and it still compresses like a photo.
inline cv::Mat picture(int width, int height, int channels = 3) {
  cv::Mat noise(height, width, CV_8UC(channels));
  cv::RNG rng(static_cast<std::uint64_t>(width) * 7919 + static_cast<std::uint64_t>(height));
  rng.fill(noise, cv::RNG::UNIFORM, 0, 60);
  cv::Mat image(height, width, CV_8UC(channels));
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        image.ptr<std::uint8_t>(y)[x * channels + c] = static_cast<std::uint8_t>(
            (x * 180 / width + y * 60 / height + c * 50) % 196 + noise.ptr<std::uint8_t>(y)[x * channels + c]);
  return image;
}

inline std::vector<std::uint8_t> cv_encode(const cv::Mat& image, int restart_mcus, bool progressive = false) {
  std::vector<std::uint8_t> out;
  REQUIRE(cv::imencode(".jpg", image, out,
                       {cv::IMWRITE_JPEG_QUALITY, 90, cv::IMWRITE_JPEG_RST_INTERVAL, restart_mcus,
                        cv::IMWRITE_JPEG_PROGRESSIVE, progressive ? 1 : 0}));
  return out;
}

struct Encoding {
  int h = 2, v = 2;  // luma sampling factors; chroma 1x1
  int restart = 0;   // MCUs
  bool progressive = false;
  bool arithmetic = false;
  bool scan_per_component = false;  // sequential, but three scans
};

// A libjpeg compressor writing to memory. libjpeg's default error handler exits the
// process: fine for known-good inputs.
struct MemoryCompressor {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  unsigned char* buffer = nullptr;
  unsigned long size = 0;

  MemoryCompressor() {
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buffer, &size);
  }
  ~MemoryCompressor() {
    std::free(buffer);
    jpeg_destroy_compress(&c);
  }
  MemoryCompressor(const MemoryCompressor&) = delete;
  MemoryCompressor& operator=(const MemoryCompressor&) = delete;

  std::vector<std::uint8_t> finish() {
    jpeg_finish_compress(&c);
    return {buffer, buffer + size};
  }
};

inline std::vector<std::uint8_t> lib_encode(const cv::Mat& bgr, const Encoding& e) {
  MemoryCompressor compressor;
  jpeg_compress_struct& c = compressor.c;
  c.image_width = static_cast<JDIMENSION>(bgr.cols);
  c.image_height = static_cast<JDIMENSION>(bgr.rows);
  c.input_components = bgr.channels();
  c.in_color_space = bgr.channels() == 1 ? JCS_GRAYSCALE : JCS_EXT_BGR;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 90, TRUE);
  if (bgr.channels() == 3) {
    c.comp_info[0].h_samp_factor = e.h;
    c.comp_info[0].v_samp_factor = e.v;
  }
  c.restart_interval = static_cast<unsigned>(e.restart);
  if (e.progressive) jpeg_simple_progression(&c);
  c.arith_code = e.arithmetic ? TRUE : FALSE;
  static const jpeg_scan_info three_scans[3] = {
      {1, {0}, 0, 63, 0, 0}, {1, {1}, 0, 63, 0, 0}, {1, {2}, 0, 63, 0, 0}};
  if (e.scan_per_component) {
    c.scan_info = three_scans;
    c.num_scans = 3;
  }
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(bgr.ptr<std::uint8_t>(static_cast<int>(c.next_scanline)));
    jpeg_write_scanlines(&c, &row, 1);
  }
  return compressor.finish();
}

// `jpeg` with one quantised coefficient replaced (component, block row and column,
// natural index 0..63), losslessly re-encoded with optimised Huffman tables: a file
// with values no encoder of pictures writes, but a crafted one can.
inline std::vector<std::uint8_t> with_coefficient(const std::vector<std::uint8_t>& jpeg, int component,
                                                  int block_row, int block_col, int natural, int value) {
  jpeg_decompress_struct d{};
  jpeg_error_mgr derr{};
  d.err = jpeg_std_error(&derr);
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, jpeg.data(), static_cast<unsigned long>(jpeg.size()));
  jpeg_read_header(&d, TRUE);
  jvirt_barray_ptr* coefficients = jpeg_read_coefficients(&d);
  JBLOCKARRAY rows = (*d.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&d), coefficients[component],
                                                  static_cast<JDIMENSION>(block_row), 1, TRUE);
  rows[0][block_col][natural] = static_cast<JCOEF>(value);

  MemoryCompressor compressor;
  jpeg_copy_critical_parameters(&d, &compressor.c);
  compressor.c.optimize_coding = TRUE;
  jpeg_write_coefficients(&compressor.c, coefficients);
  std::vector<std::uint8_t> out = compressor.finish();
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  return out;
}

}  // namespace pixelmill::test
