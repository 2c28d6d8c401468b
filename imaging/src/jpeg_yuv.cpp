// JPEG <-> Y'CbCr planes over TurboJPEG 2.x. See jpeg_yuv.hpp.
#include "jpeg_yuv.hpp"

#include <turbojpeg.h>

#include <opencv2/core.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "parallel_tasks.hpp"
#include "pixelmill/imaging/image_error.hpp"

namespace pixelmill::imaging {

namespace {

// One TurboJPEG instance per thread and kind, created on first use and kept: CPU pool
// threads live as long as the process, and an instance carries libjpeg's state and
// error manager (~30 KB), worth not rebuilding per image. Not shareable between
// threads, hence thread_local.
class TjHandle {
 public:
  using Init = tjhandle (*)();
  explicit TjHandle(Init init) noexcept : init_(init) {}
  ~TjHandle() {
    if (handle_ != nullptr) tjDestroy(handle_);
  }
  TjHandle(const TjHandle&) = delete;
  TjHandle& operator=(const TjHandle&) = delete;

  // Retried on the next call if creation failed (out of memory).
  tjhandle get() {
    if (handle_ == nullptr) handle_ = init_();
    if (handle_ == nullptr) throw std::runtime_error(std::string("TurboJPEG: ") + tjGetErrorStr2(nullptr));
    return handle_;
  }

  // After an error the instance is not trusted again: TurboJPEG 2.1's
  // tjDecompressHeader3 returns from a libjpeg error without aborting the
  // decompressor, and every later header read on it fails the same way ("Bogus
  // Huffman table definition" for a good file), so one bad upload would have sent
  // that thread's every later JPEG down the slower BGR pipeline. Found by fuzz_split.
  void reset() noexcept {
    if (handle_ != nullptr) tjDestroy(handle_);
    handle_ = nullptr;
  }

 private:
  Init init_;
  tjhandle handle_ = nullptr;
};

TjHandle& decompressor() {
  thread_local TjHandle handle(tjInitDecompress);
  return handle;
}

TjHandle& compressor() {
  thread_local TjHandle handle(tjInitCompress);
  return handle;
}

// The same wording as the BGR path: the client learns that the data is bad, not
// which libjpeg message said so.
[[noreturn]] void throw_undecodable() {
  throw ImageError(ImageError::Kind::undecodable,
                   "the jpeg image could not be decoded: the image data is corrupt or truncated");
}

bool is_yuv_subsampling(int subsampling) {
  switch (subsampling) {
    case TJSAMP_444:
    case TJSAMP_422:
    case TJSAMP_420:
    case TJSAMP_440:
    case TJSAMP_411: return true;
    default: return false;
  }
}

// True if one of TurboJPEG's scaling factors maps width x height to exactly
// scaled_width x scaled_height. TurboJPEG then picks one that does: it takes the
// largest factor whose result fits the requested size, and factors are monotonic.
bool reachable_by_scaling(int width, int height, int scaled_width, int scaled_height) {
  int count = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&count);
  for (int i = 0; factors != nullptr && i < count; ++i) {
    if (TJSCALED(width, factors[i]) == scaled_width && TJSCALED(height, factors[i]) == scaled_height) {
      return true;
    }
  }
  return false;
}

bool covers(const PlaneView& plane, cv::Size needed) {
  return plane.data != nullptr && plane.width >= needed.width && plane.height >= needed.height &&
         plane.stride >= plane.width;
}

}  // namespace

std::optional<JpegYuvHeader> read_yuv_header(std::span<const std::uint8_t> jpeg) {
  TjHandle& instance = decompressor();
  int width = 0, height = 0, subsampling = -1, colorspace = -1;
  if (tjDecompressHeader3(instance.get(), jpeg.data(), static_cast<unsigned long>(jpeg.size()), &width, &height,
                          &subsampling, &colorspace) != 0) {
    instance.reset();
    return std::nullopt;
  }
  if (colorspace != TJCS_YCbCr || !is_yuv_subsampling(subsampling)) return std::nullopt;
  return JpegYuvHeader{width, height, subsampling};
}

cv::Size yuv_plane_size(int component, int width, int height, int subsampling) {
  const int w = tjPlaneWidth(component, width, subsampling);
  const int h = tjPlaneHeight(component, height, subsampling);
  if (w <= 0 || h <= 0) throw std::invalid_argument("yuv_plane_size: invalid size or subsampling");
  return {w, h};
}

YuvPlanesView YuvPlanes::view() {
  const auto plane = [](cv::Mat& m) {
    return PlaneView{m.data, m.cols, m.rows, static_cast<std::ptrdiff_t>(m.step[0])};
  };
  return {plane(y), plane(cb), plane(cr)};
}

YuvPlanes allocate_yuv_planes(int width, int height, int subsampling) {
  YuvPlanes planes;
  planes.y.create(yuv_plane_size(0, width, height, subsampling), CV_8UC1);
  planes.cb.create(yuv_plane_size(1, width, height, subsampling), CV_8UC1);
  planes.cr.create(yuv_plane_size(2, width, height, subsampling), CV_8UC1);
  return planes;
}

bool decode_yuv_into(std::span<const std::uint8_t> jpeg, int scaled_width, int scaled_height,
                     const YuvPlanesView& dst) {
  TjHandle& instance = decompressor();
  tjhandle handle = instance.get();
  const auto size = static_cast<unsigned long>(jpeg.size());
  int width = 0, height = 0, subsampling = -1, colorspace = -1;
  if (tjDecompressHeader3(handle, jpeg.data(), size, &width, &height, &subsampling, &colorspace) != 0) {
    instance.reset();
    throw_undecodable();
  }
  if (!is_yuv_subsampling(subsampling) || !reachable_by_scaling(width, height, scaled_width, scaled_height)) {
    throw ImageError(ImageError::Kind::undecodable,
                     "the jpeg image could not be decoded at " + std::to_string(scaled_width) + "x" +
                         std::to_string(scaled_height));
  }
  // A caller's bug, not bad data: TurboJPEG writes whole padded planes.
  for (int c = 0; c < 3; ++c) {
    const PlaneView& plane = c == 0 ? dst.y : c == 1 ? dst.cb : dst.cr;
    if (!covers(plane, yuv_plane_size(c, scaled_width, scaled_height, subsampling))) {
      throw std::invalid_argument("decode_yuv_into: plane " + std::to_string(c) + " is too small");
    }
  }
  unsigned char* planes[3] = {dst.y.data, dst.cb.data, dst.cr.data};
  int strides[3] = {static_cast<int>(dst.y.stride), static_cast<int>(dst.cb.stride),
                    static_cast<int>(dst.cr.stride)};
  // Warnings stop the decoder: libjpeg would otherwise fill what it could not decode
  // with grey and report success.
  if (tjDecompressToYUVPlanes(handle, jpeg.data(), size, planes, scaled_width, strides, scaled_height,
                              TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0) {
    const bool warning = tjGetErrorCode(handle) == TJERR_WARNING;
    instance.reset();
    if (warning) return false;
    throw_undecodable();
  }
  return true;
}

bool decode_bands_into(std::span<const JpegBand> bands, int scale, int scaled_width, int subsampling,
                       const YuvPlanesView& dst) {
  // Each band's rows of the three planes. Bands start on MCU rows, which the scale
  // and the chroma's vertical subsampling both divide.
  const auto rows_from = [](const PlaneView& plane, int first) {
    if (first > plane.height) throw std::invalid_argument("decode_bands_into: a band starts below the planes");
    return PlaneView{plane.data + first * plane.stride, plane.width, plane.height - first, plane.stride};
  };
  const auto band_view = [&](const JpegBand& band) {
    if (band.first_row % scale != 0) throw std::invalid_argument("decode_bands_into: a band off the MCU rows");
    const int luma = band.first_row / scale;
    const int chroma = luma == 0 ? 0 : yuv_plane_size(1, scaled_width, luma, subsampling).height;
    return YuvPlanesView{rows_from(dst.y, luma), rows_from(dst.cb, chroma), rows_from(dst.cr, chroma)};
  };
  std::vector<std::uint8_t> clean(bands.size(), 0);  // not vector<bool>: tasks write their own
  parallel_tasks(static_cast<int>(bands.size()), [&](int i) {
    const JpegBand& band = bands[static_cast<std::size_t>(i)];
    const int rows = (band.rows + scale - 1) / scale;
    clean[static_cast<std::size_t>(i)] = decode_yuv_into(band.jpeg, scaled_width, rows, band_view(band));
  });
  return std::find(clean.begin(), clean.end(), 0) == clean.end();
}

std::vector<std::uint8_t> encode_yuv420(const cv::Mat& y, const cv::Mat& cb, const cv::Mat& cr, int quality) {
  const int width = y.cols, height = y.rows;
  const cv::Size chroma((width + 1) / 2, (height + 1) / 2);
  if (y.type() != CV_8UC1 || cb.type() != CV_8UC1 || cr.type() != CV_8UC1 || y.empty() ||
      cb.size() != chroma || cr.size() != chroma) {
    throw std::invalid_argument("encode_yuv420: planes of the wrong type or size");
  }
  // TurboJPEG reads the Y plane padded to even width and height; an odd side gets its
  // last column / row repeated (what libjpeg's own edge expansion would write).
  cv::Mat luma = y;
  if (width % 2 != 0 || height % 2 != 0) {
    cv::copyMakeBorder(y, luma, 0, height % 2, 0, width % 2, cv::BORDER_REPLICATE);
  }
  const unsigned char* planes[3] = {luma.data, cb.data, cr.data};
  const int strides[3] = {static_cast<int>(luma.step[0]), static_cast<int>(cb.step[0]),
                          static_cast<int>(cr.step[0])};
  const unsigned long bound = tjBufSize(width, height, TJSAMP_420);
  if (bound == static_cast<unsigned long>(-1)) throw std::invalid_argument("encode_yuv420: invalid size");
  // Worst-case size up front, so TurboJPEG writes straight into the vector (NOREALLOC)
  // and shrinking it to the real size copies nothing.
  std::vector<std::uint8_t> out(bound);
  unsigned char* buffer = out.data();
  unsigned long size = bound;
  TjHandle& instance = compressor();
  tjhandle handle = instance.get();
  // No TJFLAG_PROGRESSIVE: baseline; Huffman optimisation is off by default in 2.x.
  if (tjCompressFromYUVPlanes(handle, planes, width, strides, height, TJSAMP_420, &buffer, &size, quality,
                              TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT) != 0) {
    const std::string message = tjGetErrorStr2(handle);
    instance.reset();
    throw std::runtime_error("encoding the jpeg output failed: " + message);
  }
  out.resize(size);
  return out;
}

}  // namespace pixelmill::imaging
