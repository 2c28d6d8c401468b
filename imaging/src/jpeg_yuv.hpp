#pragma once
// JPEG <-> planar Y'CbCr through libjpeg-turbo's TurboJPEG 2.x API: decode with DCT
// scaling straight to the stored Y, Cb, Cr planes (no chroma upsampling, no colour
// conversion) and encode 4:2:0 from planes. transform()'s JPEG -> JPEG path runs on
// these (resizing each plane with OpenCV); every other input and output goes through
// OpenCV's BGR decode and encode. Private to imaging/.
//
// Plane sizes follow TurboJPEG's "YUV Image Format Notes": the Y plane is the image
// padded to a multiple of the horizontal / vertical subsampling factor (e.g. 36x35
// for a 35x35 image at 4:2:2), each chroma plane that padded size divided by the
// factors. The decoder writes, and the encoder reads, the padded sizes.
//
// Decoding goes into caller-provided planes with strides, and allocation is separate,
// so that a JPEG cut into bands (standalone JPEGs of whole MCU rows) can be decoded
// band by band into row offsets of one set of full-size planes.
//
// Thread-safe: each thread reuses its own TurboJPEG handles.
#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "jpeg_restart.hpp"

namespace pixelmill::imaging {

struct JpegYuvHeader {
  int width = 0, height = 0;  // as stored (before scaling or orientation)
  int subsampling = 0;        // TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_440 or TJSAMP_411
};

// The header of a 3-component Y'CbCr JPEG whose chroma subsampling TurboJPEG can
// name. std::nullopt for anything else — grey, RGB (Adobe transform 0), CMYK/YCCK,
// unusual sampling factors, a header TurboJPEG refuses: those take the BGR path.
[[nodiscard]] std::optional<JpegYuvHeader> read_yuv_header(std::span<const std::uint8_t> jpeg);

// One plane: `width` x `height` samples, rows `stride` bytes apart.
struct PlaneView {
  std::uint8_t* data = nullptr;
  int width = 0, height = 0;
  std::ptrdiff_t stride = 0;
};

struct YuvPlanesView {
  PlaneView y, cb, cr;
};

// Padded size of plane `component` (0 = Y, 1 = Cb, 2 = Cr) of a `width` x `height`
// image at `subsampling` (tjPlaneWidth / tjPlaneHeight).
[[nodiscard]] cv::Size yuv_plane_size(int component, int width, int height, int subsampling);

// Owning planes, each at its padded size. cv::Mat, so transform's OpenCV steps work
// on views of them.
struct YuvPlanes {
  cv::Mat y, cb, cr;
  [[nodiscard]] YuvPlanesView view();
};

// Uninitialised planes for a `width` x `height` image at `subsampling`. The caller
// has checked the size against the source limits.
[[nodiscard]] YuvPlanes allocate_yuv_planes(int width, int height, int subsampling);

// Decodes `jpeg` scaled to exactly `scaled_width` x `scaled_height` (the stored size
// at 1/1, 1/2, 1/4 or 1/8: ceil(side / n), libjpeg's rounding) into `dst`, whose
// planes must be at least yuv_plane_size() of that size at the JPEG's subsampling.
// Returns false when libjpeg warned (e.g. corrupt entropy data, extraneous bytes):
// decoding stops there, the planes are partly written, and the caller decides (libjpeg
// itself would continue with a best-effort image). Throws ImageError(undecodable) when
// the data does not decode, or when no scaling factor gives the requested size.
[[nodiscard]] bool decode_yuv_into(std::span<const std::uint8_t> jpeg, int scaled_width,
                                   int scaled_height, const YuvPlanesView& dst);

// Decodes the bands of one JPEG (split_at_restarts) at 1/`scale` into
// the rows of `dst` each one covers, one band per task on cv::parallel_for_ (the CPU
// pool in the service): several cores share one image's serial Huffman decode. `dst`
// is the whole image's planes at `scaled_width` x ceil(height / scale), `subsampling`
// the JPEG's. Exact: a band's coefficients are the whole file's, and no decoder stage
// reads across a band edge when the chroma is not upsampled (see jpeg_restart.hpp).
// Returns false when libjpeg warned on any band; throws like decode_yuv_into.
[[nodiscard]] bool decode_bands_into(std::span<const JpegBand> bands, int scale, int scaled_width,
                                     int subsampling, const YuvPlanesView& dst);

// Encodes a 4:2:0 baseline JPEG (accurate DCT, standard Huffman tables, no metadata)
// from a `y` plane of the image's exact size and `cb`, `cr` planes of
// ceil(width / 2) x ceil(height / 2). All CV_8UC1; views with any stride are fine.
[[nodiscard]] std::vector<std::uint8_t> encode_yuv420(const cv::Mat& y, const cv::Mat& cb,
                                                      const cv::Mat& cr, int quality);

}  // namespace pixelmill::imaging
