#pragma once
// One baseline JPEG, Huffman-decoded by several threads at once. libjpeg's entropy
// decode is serial within a scan and is most of a shrink-on-load decode (86% of the
// transform for the 24 MP benchmark photo), so without restart markers a second core
// could not help. Private to imaging/.
//
// With restart markers (at MCU-row starts: scan_layout's condition) nothing needs
// guessing: a restart resets the DC predictors and byte-aligns the data, so each
// interval is decoded on its own, straight into the planes, in runs of intervals
// handed out to the threads (8 runs per segment asked for).
//
// How. Huffman codes resynchronise: a decoder started at an arbitrary bit of the
// entropy-coded data, guessing that a block starts there, decodes garbage for a while
// and then, with high probability, lands on a true block start in the right place of
// its MCU; from there on its output equals the true decoder's (speculative,
// self-synchronising decoding: Klein & Wiseman 2003; Weißenberger & Schmidt 2021). The
// data (unstuffed) is cut into segments, one per task. A task that finishes early asks
// the running segment with the most left for the second half of it, which that segment
// hands over at its next block: one core of a shared host can run slower than the
// other for seconds, and fixed pieces would finish with the slower one. Segment 0
// starts where the scan starts, so it is true from its first bit. Every segment
// decodes past its end into the next one by a margin, and records the bit position,
// place in the MCU and DC predictors at each block start near its beginning and in
// that margin. The first position both record with the same place in the MCU is where
// the next segment became true: the state at a block start is exactly (bit position,
// place in the MCU, DC predictors), and the predictors only add a per-component offset
// to the DC values, which is known there. So each block comes from the one segment
// that decoded it truly, and the result is exact: the tests compare every plane with
// TurboJPEG's, bit for bit.
//
// Segment 0 writes samples as it goes; the others keep a record per block until their
// DC offsets are known (at 1/4 the inverse DCT up to its final rounding, which a DC
// offset shifts exactly; at 1/8 the DC term), then all tasks finish those blocks. The
// reduced inverse DCTs are jpeg_reduced_idct.hpp, the Huffman decoding
// jpeg_huffman.hpp; written by hand because libjpeg exposes neither a decoder that
// starts mid-scan nor its state at a block.
//
// Whatever needs libjpeg's judgement is left to it: anything that would make libjpeg
// warn or fail (a bad Huffman code, a coefficient index past 63, data ending early or
// bytes left over, before EOI or before a restart marker, a header warning), a block
// whose coefficients are so wild that libjpeg's C and SIMD transforms would disagree
// on it (jpeg_reduced_idct.hpp), files outside the common case (other than three
// components at a TurboJPEG subsampling, 1/1 and 1/2, where libjpeg's SIMD inverse
// DCT is faster than a scalar one here), and a segment that does not synchronise
// within the margin. The caller then decodes with decode_yuv_into; nothing is lost but
// the time spent here.
#include <cstdint>
#include <span>
#include <vector>

#include "jpeg_restart.hpp"
#include "jpeg_yuv.hpp"

namespace pixelmill::imaging {

struct SplitDecodeOptions {
  // Tasks, >= 1; fewer when the data is short for them. With restart markers: 1 is
  // one piece, n > 1 makes 8n runs of intervals (at most one per interval).
  int segments = 2;
  // How far each segment decodes into the next one (and keeps block starts at its own
  // beginning) to meet it. Segments are never shorter than twice this.
  std::uint64_t sync_margin_bits = 16 * 1024 * 8;
  // Without restart markers: a task that finishes early takes over the second half of
  // what a running segment has left (decode_split_into's Segments), so a slower core
  // does not hold the others up. False: the cuts made up front only, at positions that
  // do not depend on timing (the tests of tight margins).
  bool steal = true;
};

// What a split decode did, for the tests and the benchmark.
struct SplitDecodeStats {
  int segments = 0;  // with restart markers: the runs of intervals
  // Per segment after the first: bits from its start to the block start where it
  // became true (none with restart markers).
  std::vector<std::int64_t> sync_bits;
  // Segments split off running ones by tasks that finished early (counted in
  // `segments` too).
  int stolen = 0;
};

// Decodes `jpeg` (`layout` from scan_layout(jpeg)) at 1/`scale` (4 or 8; false for
// any other) into `dst` in tasks on cv::parallel_for_ (see options). `dst` is as for
// decode_yuv_into at `scaled_width` x `scaled_height` (checked) with `subsampling`
// (the TurboJPEG constant of read_yuv_header). True when every sample is written and
// equals what decode_yuv_into writes; false when the file is left to libjpeg (see
// above): `dst` may then be partly written.
[[nodiscard]] bool decode_split_into(std::span<const std::uint8_t> jpeg, const RestartLayout& layout, int scale,
                                     int scaled_width, int scaled_height, int subsampling,
                                     const SplitDecodeOptions& options, const YuvPlanesView& dst,
                                     SplitDecodeStats* stats = nullptr);

}  // namespace pixelmill::imaging
