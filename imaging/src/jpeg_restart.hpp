#pragma once
// Cutting one baseline JPEG into independent bands at its restart markers, so that
// several threads can entropy-decode one image: libjpeg's Huffman decode is serial
// within a stream, and it dominates shrink-on-load of large photos. Pure byte work,
// no decoder: each band is a standalone JPEG that any libjpeg/TurboJPEG decodes.
// Private to imaging/.
//
// Why the result is exact. Baseline entropy-coded data is a sequence of MCUs in raster
// order; the only state carried from one MCU to the next is the DC predictor of each
// component (and the bit position). A restart marker (RSTn, after every `Ri` MCUs, Ri
// from DRI) byte-aligns the data and resets every DC predictor to 0. So the bytes
// between two markers decode to the same coefficients wherever they are placed behind
// the same tables. When Ri divides the MCUs per row `W` (or is a multiple k*W), a
// restart falls at the start of every MCU row (every k-th): rows [r0, r1) of MCUs are
// exactly the intervals [r0*W/Ri, r1*W/Ri). A band is the file's tables, the SOF with
// the height set to (r1-r0)*mcu_height (the last band: the rest of the image height,
// which need not be whole MCUs, as in the original), the SOS, those intervals with
// their markers renumbered from RST0 (a decoder expects RST0 after its first
// interval), and EOI. Coefficients, hence IDCT output, are identical, and a band's
// first pixel row is r0*mcu_height of the image.
//
// One decoder stage looks across MCU rows: "fancy" (triangle) upsampling of chroma
// that is subsampled vertically (4:2:0, 4:4:0) reads the chroma row above and below,
// and a band's decoder replicates its own edge row instead, so bands decoded to RGB
// differ from the whole image in the two rows around each band edge (at 1/1; at some
// shrink-on-load scales libjpeg-turbo scales chroma in the IDCT instead). Bands
// decoded to Y'CbCr planes (jpeg_yuv.hpp, decode_bands_into), as transform does, are
// never upsampled and equal the whole image's planes bit for bit.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace pixelmill::imaging {

struct ByteRange {
  std::size_t offset = 0;
  std::size_t size = 0;
};

struct RestartLayout {
  int width = 0;   // pixels, from SOF
  int height = 0;  // pixels, from SOF (never 0: DNL files are refused)
  int mcu_width = 0;   // pixels: 8 * max H sampling factor (8 for one component)
  int mcu_height = 0;  // pixels: 8 * max V sampling factor (8 for one component)
  int mcus_per_row = 0;
  int mcu_rows = 0;
  int restart_interval = 0;  // MCUs, from DRI
  int components = 0;  // 1 to 4
  std::array<int, 4> h_sampling{};  // per component, from SOF
  std::array<int, 4> v_sampling{};
  std::array<int, 4> quant_table{};  // per component, from SOF
  // The scan's components in scan order (as frame indexes) and their DC and AC
  // Huffman tables, from SOS.
  std::array<int, 4> scan_order{};
  std::array<int, 4> dc_table{};
  std::array<int, 4> ac_table{};
  // libjpeg would warn while reading this header: bytes skipped between segments, or
  // a JFIF major version other than 1 or 2.
  bool header_warning = false;
  std::size_t sof_offset = 0;  // the SOF marker's 0xFF; the height is at +5
  std::size_t scan_start = 0;  // first byte of entropy-coded data (= end of the header)
  std::size_t eoi_offset = 0;  // the EOI marker's 0xFF
  // The header pieces a band copies, SOI to SOS in file order: tables (DQT, DHT, DRI),
  // SOF, SOS, and the APP0 JFIF and APP14 Adobe segments, which decide the colour
  // transform (YCbCr or RGB, CMYK or YCCK, inverted CMYK). EXIF is left out on purpose
  // (a band must not be rotated on its own), and so are ICC, XMP and comments.
  std::vector<ByteRange> header_segments;
  // Offset of the 0xFF of every RSTn in the scan, in order: restarts[i] ends interval i.
  std::vector<std::size_t> restarts;
};

// The layout of a JPEG that can be split at restarts, or nullopt (decode it normally)
// unless: baseline or extended Huffman (SOF0/SOF1) with 8-bit samples, 1 to 4
// components, one scan holding all components, a DRI whose interval divides the MCUs
// per row or is a multiple of it, RSTn markers in sequence and exactly as many as the
// geometry implies, then EOI. Progressive, arithmetic, lossless, hierarchical,
// multi-scan and DNL files give nullopt, as does anything malformed. Every read is
// bounds-checked; allocation is bounded by the input size. Never throws except
// std::bad_alloc.
[[nodiscard]] std::optional<RestartLayout> restart_layout(std::span<const std::uint8_t> jpeg);

// The same checks and layout for a file with or without a DRI (restart_interval 0 and
// no restarts when it has none): what jpeg_split_decode.hpp decodes.
[[nodiscard]] std::optional<RestartLayout> scan_layout(std::span<const std::uint8_t> jpeg);

struct JpegBand {
  int first_row = 0;  // the band's first image row (full-resolution pixels)
  int rows = 0;       // image rows the band holds
  std::vector<std::uint8_t> jpeg;  // a standalone JPEG
};

// At most `bands` bands (fewer when the image has fewer restart-aligned row groups) of
// nearly equal MCU-row counts, top to bottom, covering the image exactly. `layout` must
// come from restart_layout(jpeg). Empty when bands < 1 or the layout does not fit the
// bytes.
[[nodiscard]] std::vector<JpegBand> split_at_restarts(std::span<const std::uint8_t> jpeg,
                                                      const RestartLayout& layout, int bands);

}  // namespace pixelmill::imaging
