// Speculative, self-synchronising parallel Huffman decoding of one baseline JPEG.
// See jpeg_split_decode.hpp.
#include "jpeg_split_decode.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "jpeg_huffman.hpp"
#include "jpeg_reduced_idct.hpp"
#include "parallel_tasks.hpp"

namespace pixelmill::imaging {
namespace {

using Bytes = std::span<const std::uint8_t>;

constexpr int kComponents = 3;  // Y, Cb, Cr: the planes this decoder writes
constexpr int kMaxBlocksPerMcu = 10;

// Zero bytes behind the data: one block reads at most 64 codes of up to 31 bits past
// its start, and the bit reader loads 8 bytes at a time.
constexpr std::size_t kPadBytes = 512;
// The records the speculative segments keep, at most (the bound, not the usual use:
// about half of it for two segments).
constexpr std::int64_t kMaxKeptBytes = 96ll * 1024 * 1024;
// How often a segment tells thieves how far it got, in blocks: they ask the one with
// the most left (Segments::steal).
constexpr std::int64_t kProgressBlocks = 64;

// ---------------------------------------------------------------- geometry

// One block of the MCU: its frame component and place within the component's MCU.
struct Phase {
  int component = 0;
  int dx = 0, dy = 0;
  const HuffmanTable* dc = nullptr;
  const HuffmanTable* ac = nullptr;
};

struct Geometry {
  int out = 0;  // samples per block side: 8 / scale
  int mcus_per_row = 0, mcu_rows = 0;
  int blocks_per_mcu = 0;
  std::int64_t total_blocks = 0;
  std::array<Phase, kMaxBlocksPerMcu> phases{};
  std::array<int, kComponents> h{}, v{};
  std::array<Dequant, kComponents> dequant{};
  std::array<PlaneView, kComponents> planes{};
  std::array<cv::Size, kComponents> covered{};  // of each plane, by the component's blocks
  // The MCUs whose blocks all lie inside the planes: [0, interior_cols) x [0,
  // interior_rows). Their blocks are written without clipping (BlockCursor).
  std::int64_t interior_cols = 0, interior_rows = 0;
};

int ceil_div(std::int64_t a, std::int64_t b) { return static_cast<int>((a + b - 1) / b); }

// Geometry::interior_*: block column b = mcu_x * h + dx is inside while
// (b + 1) * out <= the plane's width, and the same for rows.
void set_interior(Geometry& g) {
  const auto last = [&](int samples, int offset, int per_mcu) -> std::int64_t {
    const int last_block = samples / g.out - 1 - offset;
    return last_block < 0 ? 0 : last_block / per_mcu + 1;
  };
  g.interior_cols = g.mcus_per_row;
  g.interior_rows = g.mcu_rows;
  for (int phase = 0; phase < g.blocks_per_mcu; ++phase) {
    const Phase& p = g.phases[static_cast<std::size_t>(phase)];
    const auto ci = static_cast<std::size_t>(p.component);
    g.interior_cols = std::min(g.interior_cols, last(g.planes[ci].width, p.dx, g.h[ci]));
    g.interior_rows = std::min(g.interior_rows, last(g.planes[ci].height, p.dy, g.v[ci]));
  }
}

// False when the file or the planes are outside what this decoder reproduces exactly.
bool make_geometry(const RestartLayout& l, const Tables& tables, int scale, int scaled_width, int scaled_height,
                   int subsampling, const YuvPlanesView& dst, Geometry& g) {
  if (l.components != kComponents || l.restart_interval < 0 || l.header_warning) return false;
  if (scale != 4 && scale != 8) return false;
  if (scaled_width != ceil_div(l.width, scale) || scaled_height != ceil_div(l.height, scale)) return false;
  g.out = 8 / scale;

  const int h_max = *std::max_element(l.h_sampling.begin(), l.h_sampling.begin() + kComponents);
  const int v_max = *std::max_element(l.v_sampling.begin(), l.v_sampling.begin() + kComponents);
  g.mcus_per_row = l.mcus_per_row;
  g.mcu_rows = l.mcu_rows;
  const PlaneView* views[kComponents] = {&dst.y, &dst.cb, &dst.cr};
  for (int c = 0; c < kComponents; ++c) {
    const auto ci = static_cast<std::size_t>(c);
    g.h[ci] = l.h_sampling[ci];
    g.v[ci] = l.v_sampling[ci];
    const int quant_id = l.quant_table[ci];
    if (quant_id > 3 || !tables.quant_defined[static_cast<std::size_t>(quant_id)]) return false;
    const auto& quant = tables.quant[static_cast<std::size_t>(quant_id)];
    // ReducedBlock<2> is exact with 8-bit quantisers only; 16-bit tables go to libjpeg.
    if (g.out == 2 && *std::max_element(quant.begin(), quant.end()) > 255) return false;
    g.dequant[ci] = make_dequant(quant);
    // The blocks must cover the image's samples: all of a chroma plane, and the Y
    // plane but for the padding TurboJPEG adds to make it a whole number of chroma
    // samples (it copies whatever its buffer holds there; fill_luma_padding repeats
    // the edge instead). They always do at 1/4, and at 1/8 but for that padding.
    const int width_in_blocks = ceil_div(std::int64_t{l.width} * g.h[ci], std::int64_t{h_max} * 8);
    const int height_in_blocks = ceil_div(std::int64_t{l.height} * g.v[ci], std::int64_t{v_max} * 8);
    const cv::Size plane = yuv_plane_size(c, scaled_width, scaled_height, subsampling);
    const cv::Size needed = c == 0 ? cv::Size(scaled_width, scaled_height) : plane;
    if (needed.width > width_in_blocks * g.out || needed.height > height_in_blocks * g.out) return false;
    g.covered[ci] = cv::Size(std::min(plane.width, width_in_blocks * g.out), std::min(plane.height, height_in_blocks * g.out));
    const PlaneView& view = *views[c];
    if (view.data == nullptr || view.width < plane.width || view.height < plane.height || view.stride < view.width)
      throw std::invalid_argument("decode_split_into: plane " + std::to_string(c) + " is too small");
    g.planes[ci] = PlaneView{view.data, plane.width, plane.height, view.stride};
  }
  int blocks = 0;
  for (int s = 0; s < kComponents; ++s) {
    const auto si = static_cast<std::size_t>(s);
    const int c = l.scan_order[si];
    const HuffmanTable& dc = tables.dc[static_cast<std::size_t>(l.dc_table[si] & 3)];
    const HuffmanTable& ac = tables.ac[static_cast<std::size_t>(l.ac_table[si] & 3)];
    if (l.dc_table[si] > 3 || l.ac_table[si] > 3 || !dc.defined || !ac.defined) return false;
    for (int dy = 0; dy < g.v[static_cast<std::size_t>(c)]; ++dy)
      for (int dx = 0; dx < g.h[static_cast<std::size_t>(c)]; ++dx) {
        if (blocks == kMaxBlocksPerMcu) return false;
        g.phases[static_cast<std::size_t>(blocks++)] = Phase{c, dx, dy, &dc, &ac};
      }
  }
  g.blocks_per_mcu = blocks;
  g.total_blocks = std::int64_t{g.mcus_per_row} * g.mcu_rows * blocks;
  set_interior(g);
  return true;
}

// Where a block sits: its phase in the MCU, the MCU's column and row.
struct BlockPlace {
  int phase = 0;
  std::int64_t mcu_x = 0, mcu_y = 0;

  // The place of block number `block` of the scan.
  static BlockPlace of(const Geometry& g, std::int64_t block) {
    const std::int64_t mcu = block / g.blocks_per_mcu;
    return {static_cast<int>(block % g.blocks_per_mcu), mcu % g.mcus_per_row, mcu / g.mcus_per_row};
  }
  // The next block's place, in scan order.
  void next(const Geometry& g) {
    if (++phase < g.blocks_per_mcu) return;
    phase = 0;
    if (++mcu_x < g.mcus_per_row) return;
    mcu_x = 0;
    ++mcu_y;
  }
};

// The plane of block `at` and the column and row of its first sample there.
struct BlockOrigin {
  const PlaneView& plane;
  std::int64_t x0, y0;
};

template <int kOut>
inline BlockOrigin origin(const Geometry& g, const BlockPlace& at) {
  const Phase& p = g.phases[static_cast<std::size_t>(at.phase)];
  const auto ci = static_cast<std::size_t>(p.component);
  return {g.planes[ci], (at.mcu_x * g.h[ci] + p.dx) * kOut, (at.mcu_y * g.v[ci] + p.dy) * kOut};
}

// Writes one block's samples, made by make(samples, stride): straight into its plane,
// or for a block on the plane's edge into a buffer, clipped from there; blocks past
// the planes' edge (MCU padding) are skipped.
template <int kOut, class Make>
inline void place(const Geometry& g, const BlockPlace& at, const Make& make) {
  const auto [plane, x0, y0] = origin<kOut>(g, at);
  if (x0 >= plane.width || y0 >= plane.height) return;
  std::uint8_t* to = plane.data + y0 * plane.stride + x0;
  if (x0 + kOut <= plane.width && y0 + kOut <= plane.height) {
    make(to, plane.stride);
    return;
  }
  std::uint8_t samples[kOut * kOut];
  make(samples, std::ptrdiff_t{kOut});
  const auto w = static_cast<std::size_t>(std::min<std::int64_t>(kOut, plane.width - x0));
  const std::int64_t h = std::min<std::int64_t>(kOut, plane.height - y0);
  for (std::int64_t r = 0; r < h; ++r) std::memcpy(to + r * plane.stride, samples + r * kOut, w);
}

// Blocks in scan order from a given one, with where each one's samples go: a block
// of an interior MCU straight into its plane, at a fixed step along the MCU row; the
// others through place(). Placing every block through place() made a pass over the
// blocks a third slower at 1/4 and twice as slow at 1/8 on the 24 MP benchmark image.
template <int kOut>
class BlockCursor {
 public:
  BlockCursor(const Geometry& g, std::int64_t block) : g_(&g), at_(BlockPlace::of(g, block)) { start_row(); }

  const BlockPlace& where() const { return at_; }

  // Writes the current block's samples, made by make(samples, stride).
  template <class Make>
  void write(const Make& make) const {
    if (at_.mcu_x < inside_cols_) {
      const auto ph = static_cast<std::size_t>(at_.phase);
      make(row_[ph] + at_.mcu_x * step_[ph], stride_[ph]);
    } else {
      place<kOut>(*g_, at_, make);
    }
  }

  void next() {
    at_.next(*g_);
    if (at_.phase == 0 && at_.mcu_x == 0) start_row();
  }

 private:
  // Each phase's first block in the row, when the row is interior.
  void start_row() {
    inside_cols_ = at_.mcu_y < g_->interior_rows ? g_->interior_cols : 0;
    if (inside_cols_ == 0) return;
    for (int phase = 0; phase < g_->blocks_per_mcu; ++phase) {
      const auto ph = static_cast<std::size_t>(phase);
      const auto [plane, x0, y0] = origin<kOut>(*g_, BlockPlace{phase, 0, at_.mcu_y});
      row_[ph] = plane.data + y0 * plane.stride + x0;
      stride_[ph] = plane.stride;
      step_[ph] = std::ptrdiff_t{g_->h[static_cast<std::size_t>(g_->phases[ph].component)]} * kOut;
    }
  }

  const Geometry* g_;
  BlockPlace at_;
  std::int64_t inside_cols_ = 0;  // MCUs of this row written straight through
  std::array<std::uint8_t*, kMaxBlocksPerMcu> row_{};
  std::array<std::ptrdiff_t, kMaxBlocksPerMcu> step_{}, stride_{};
};

// The Y plane's padding past its blocks (1/8 only): the last decoded column and row
// repeated.
void fill_luma_padding(const Geometry& g) {
  const PlaneView& y = g.planes[0];
  const cv::Size covered = g.covered[0];
  for (int r = 0; r < covered.height; ++r) {
    std::uint8_t* row = y.data + r * y.stride;
    std::fill(row + covered.width, row + y.width, row[covered.width - 1]);
  }
  for (int r = covered.height; r < y.height; ++r)
    std::memcpy(y.data + r * y.stride, y.data + (covered.height - 1) * y.stride, static_cast<std::size_t>(y.width));
}

// ---------------------------------------------------------------- decoding

// Appends the entropy-coded bytes [begin, end) with the stuffed zero bytes removed
// and the fill bytes before the closing marker dropped. False on any other marker
// inside (scan_layout refuses those; checked again here).
bool unstuff_range(Bytes jpeg, std::size_t begin, std::size_t end, std::vector<std::uint8_t>& out) {
  while (end > begin && jpeg[end - 1] == 0xFF) --end;
  std::size_t p = begin;
  while (p < end) {
    const void* hit = std::memchr(jpeg.data() + p, 0xFF, end - p);
    const std::size_t q = hit == nullptr ? end : static_cast<std::size_t>(static_cast<const std::uint8_t*>(hit) - jpeg.data());
    out.insert(out.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(p), jpeg.begin() + static_cast<std::ptrdiff_t>(q));
    if (q == end) break;
    if (q + 1 >= end || jpeg[q + 1] != 0x00) return false;
    out.push_back(0xFF);
    p = q + 2;
  }
  return true;
}

// The entropy-coded data unstuffed, without its restart markers, and kPad zeros
// behind, so that a bit position is a plain offset; `starts` gets the byte offset
// where each restart interval begins (one entry, 0, without restart markers).
bool unstuff(Bytes jpeg, const RestartLayout& l, std::vector<std::uint8_t>& out, std::vector<std::uint64_t>& starts) {
  out.clear();
  out.reserve(l.eoi_offset - l.scan_start + kPadBytes);
  starts.clear();
  std::size_t begin = l.scan_start;
  for (std::size_t i = 0; i <= l.restarts.size(); ++i) {
    const std::size_t end = i < l.restarts.size() ? l.restarts[i] : l.eoi_offset;
    if (end < begin) return false;
    starts.push_back(out.size());
    if (!unstuff_range(jpeg, begin, end, out)) return false;
    begin = end + 2;
  }
  out.resize(out.size() + kPadBytes, 0);
  return true;
}

// One block into `block`. False on anything libjpeg would warn about or place
// differently: a bad code, a coefficient index past 63.
template <class Block>
[[gnu::always_inline]] inline bool decode_block(BitReader& in, const Phase& phase, const Dequant& dequant,
                                                std::int64_t& predictor, Block& block) {
  bool ok = true;
  in.refill();
  const Decoded dc = decode_next(*phase.dc, in.bits, true, ok);
  in.consume(dc.consumed);
  predictor += dc.value;
  block.start(dequant, static_cast<std::int16_t>(predictor));  // libjpeg's (JCOEF) cast wraps too
  for (int k = 1; k < 64;) {
    in.refill();
    const Decoded ac = decode_next(*phase.ac, in.bits, false, ok);
    in.consume(ac.consumed);
    if (ac.run == HuffmanTable::kEndOfBlock) break;
    k += ac.run;
    if (k > 63) return false;  // libjpeg would write it over coefficient 63
    block.put_ac(k, ac.value);  // ZRL puts a 0
    ++k;
  }
  return ok;
}

// Whether decoding that stopped at bit `at` used the data up to `end` (bits) but for
// the padding of its last byte: libjpeg warns about whole bytes left over, and about
// data running out.
bool ends_in_last_byte(std::uint64_t at, std::uint64_t end) { return at <= end && at + 8 > end; }

// The block at `phase` of the MCU into `block`, with its component's DC predictor.
// False on anything decode_block refuses, or a predictor past +-2^30 (wild data;
// clamped, so that a speculative segment can go on).
template <class Block>
[[gnu::always_inline]] inline bool decode_at(BitReader& in, const Geometry& g, int phase,
                                             std::array<std::int64_t, kComponents>& predictor, Block& block) {
  const Phase& p = g.phases[static_cast<std::size_t>(phase)];
  const auto ci = static_cast<std::size_t>(p.component);
  std::int64_t& pred = predictor[ci];
  const bool ok = decode_block(in, p, g.dequant[ci], pred, block);
  if (pred > (1 << 30) || pred < -(1 << 30)) [[unlikely]] {
    pred = std::clamp<std::int64_t>(pred, -(1 << 30), 1 << 30);
    return false;
  }
  return ok;
}

// The decoder state at a block start.
struct BlockStart {
  std::uint64_t bit = 0;
  std::int64_t block = 0;  // the segment's own block count
  int phase = 0;
  std::array<std::int64_t, kComponents> predictor{};
};

struct Segment {
  // Set before decoding: the first bit; block starts are kept below `head_end` (for the
  // previous segment to meet) and from `tail_begin` on (to meet the next one); no
  // block starts at or after `stop`. `share_end`: where its true part is to end, the
  // next one's begin (Shares::end_share). The segment's own thread moves the last
  // three earlier when it hands the rest of its share to a thief (Shares::answer).
  std::uint64_t begin = 0, head_end = 0, tail_begin = 0, stop = 0, share_end = 0;
  std::int64_t max_blocks = 0, expected_blocks = 0;
  bool keep = false;  // keep records (ReducedBlock::keep) instead of writing samples: all but the first
  // A thief's request (Segments::steal): `asked` is what the decoding loop polls; the
  // rest is under `mutex`. `progress`: the bit reached, every kProgressBlocks blocks.
  std::atomic<bool> asked{false};
  std::atomic<std::uint64_t> progress{0};
  std::mutex mutex;
  std::condition_variable answered;
  bool running = false, has_answer = false;
  std::uint64_t given = 0, given_end = 0;  // the cut handed over (0: none) and the share end it had
  // Results.
  std::vector<BlockStart> head, tail;
  std::vector<std::int64_t> anomalies;  // own indexes of blocks that decoded badly
  std::unique_ptr<std::int16_t[]> records;  // uninitialised; written block by block
  std::int64_t capacity = 0;                 // of records, in int16 slots
  bool overflowed = false;
  // Set when the segments are joined: global index of own block 0, own blocks
  // [first_true, end_true) are the segment's share, DC offsets per component.
  std::int64_t base = 0, first_true = 0, end_true = 0;
  std::array<std::int64_t, kComponents> dc_offset{};

  void reserve(std::int64_t slots) {
    if (slots <= capacity) return;
    std::unique_ptr<std::int16_t[]> grown(new std::int16_t[static_cast<std::size_t>(slots)]);
    if (records) std::copy_n(records.get(), capacity, grown.get());
    records = std::move(grown);
    capacity = slots;
  }
};

// How segments' shares end, for the cuts made up front and those made for a thief.
struct Shares {
  // A segment hands over the second half of what it has left when that is at least this
  // many margins: less, and the extra margin and sync cost about what it saves.
  static constexpr std::uint64_t kStealMargins = 4;
  std::uint64_t data_bits = 0, margin = 0;

  // Where the share of `s` ends: it keeps block starts from there on and decodes a
  // margin further, to meet the next segment; the last one decodes to the data's end
  // (block total_blocks starts within its last byte).
  void end_share(Segment& s, std::uint64_t share_end) const {
    s.share_end = share_end;
    const bool last = share_end >= data_bits;
    s.tail_begin = last ? (data_bits >= 7 ? data_bits - 7 : 0) : share_end;
    s.stop = last ? data_bits : std::min(data_bits, share_end + margin);
  }

  // A running segment, at bit `pos`, answers a thief: the middle of what it has left
  // becomes its new share end and the thief's begin. The cut is at least two margins
  // ahead of `pos`, so both still meet in the margin.
  void answer(Segment& s, std::uint64_t pos) const {
    const std::lock_guard lock(s.mutex);
    std::uint64_t cut = 0;
    if (s.share_end > pos && s.share_end - pos >= kStealMargins * margin) {
      cut = (pos + (s.share_end - pos) / 2) / 8 * 8;
      s.given_end = s.share_end;
      end_share(s, cut);
    }
    reply(s, cut);
  }

  // Around a segment's decode: a thief asks only running segments, and one that stops
  // running answers a request it has not answered yet with nothing.
  static void start(Segment& s) {
    const std::lock_guard lock(s.mutex);
    s.running = true;
  }
  static void finish(Segment& s) {
    const std::lock_guard lock(s.mutex);
    s.running = false;
    if (s.asked) reply(s, 0);
  }

 private:
  // The answer to the open request, under the segment's mutex: `cut` (0: nothing).
  static void reply(Segment& s, std::uint64_t cut) {
    s.given = cut;
    s.has_answer = true;
    s.asked = false;
    s.answered.notify_one();
  }
};

// Decodes one segment: the first writes samples as it goes (it is true from its first
// bit), the others keep a record per block until their DC offsets are known.
template <int kOut>
void decode_segment(const Geometry& g, const std::uint8_t* data, const Shares& shares, Segment& seg) {
  using Block = ReducedBlock<kOut>;
  constexpr int kRecord = Block::kRecordSlots;
  BitReader in(data, seg.begin);
  BlockCursor<kOut> at(g, 0);  // a kept segment's place in the MCU only; it writes nothing
  std::array<std::int64_t, kComponents> predictor{};
  Block block;
  if (seg.keep) seg.reserve(seg.expected_blocks * kRecord);
  for (std::int64_t n = 0;; ++n) {
    const std::uint64_t pos = in.position();
    if (n % kProgressBlocks == 0) seg.progress.store(pos, std::memory_order_relaxed);
    if (seg.asked.load(std::memory_order_relaxed)) [[unlikely]]
      shares.answer(seg, pos);
    const int phase = at.where().phase;
    if (pos < seg.head_end || pos >= seg.tail_begin) {
      (pos < seg.head_end ? seg.head : seg.tail).push_back(BlockStart{pos, n, phase, predictor});
    }
    if (pos >= seg.stop || n >= seg.max_blocks) {
      seg.overflowed = pos < seg.stop;
      return;
    }
    if (!decode_at(in, g, phase, predictor, block)) seg.anomalies.push_back(n);
    bool agreed = true;  // libjpeg's builds agree on the block's samples (jpeg_reduced_idct.hpp)
    if (!seg.keep) {
      if (n < g.total_blocks)
        at.write([&](std::uint8_t* s, std::ptrdiff_t stride) { agreed = block.samples(s, stride); });
    } else {
      if ((n + 1) * kRecord > seg.capacity) seg.reserve(2 * seg.capacity + kRecord);
      agreed = block.keep(seg.records.get() + n * kRecord);
    }
    if (!agreed) seg.anomalies.push_back(n);
    at.next();
  }
}

// One restart interval, true from its first bit (a restart resets the DC predictors
// and byte-aligns the data): `blocks` blocks from global block `first`, written
// straight into the planes, from bit `begin`. False on anything libjpeg would warn
// about: a bad block, the data running out, or bytes left over before the marker
// (the last block must end within the interval's last byte).
template <int kOut>
bool decode_interval(const Geometry& g, const std::uint8_t* data, std::uint64_t begin, std::uint64_t end,
                     std::int64_t first, std::int64_t blocks) {
  ReducedBlock<kOut> block;
  BitReader in(data, begin);
  std::array<std::int64_t, kComponents> predictor{};
  BlockCursor<kOut> at(g, first);
  for (std::int64_t n = 0; n < blocks; ++n, at.next()) {
    if (in.position() >= end || !decode_at(in, g, at.where().phase, predictor, block)) return false;
    bool agreed = true;
    at.write([&](std::uint8_t* out, std::ptrdiff_t stride) { agreed = block.samples(out, stride); });
    if (!agreed) return false;
  }
  return ends_in_last_byte(in.position(), end);
}

// A file with restart markers: its intervals in `runs` contiguous runs (1..intervals),
// handed out to the threads as they come free. Exact without speculation.
template <int kOut>
bool decode_intervals(const Geometry& g, const RestartLayout& l, const std::vector<std::uint8_t>& data,
                      const std::vector<std::uint64_t>& starts, int runs) {
  const auto intervals = static_cast<std::int64_t>(starts.size());
  const std::int64_t per_interval = std::int64_t{l.restart_interval} * g.blocks_per_mcu;
  if (intervals != (g.total_blocks + per_interval - 1) / per_interval) return false;
  const std::uint64_t data_bytes = data.size() - kPadBytes;
  std::atomic<bool> exact{true};
  parallel_tasks(runs, [&](int r) {
    for (std::int64_t i = intervals * r / runs; i < intervals * (r + 1) / runs && exact; ++i) {
      const auto at = static_cast<std::size_t>(i);
      const std::uint64_t end = i + 1 < intervals ? starts[at + 1] : data_bytes;
      const std::int64_t first = i * per_interval;
      if (!decode_interval<kOut>(g, data.data(), starts[at] * 8, end * 8, first,
                                 std::min(per_interval, g.total_blocks - first)))
        exact = false;
    }
  });
  return exact;
}

// How much longer the first segment takes per bit of data than a kept one: it writes
// samples as it goes, where the kept ones leave that to emit_kept, which runs on all
// threads once every segment is decoded. The extra per block is worth about 4 bits of
// Huffman decoding at 2x2 and 1 at 1x1: with equal cuts of the 24 MP benchmark image
// (42 bits a block) the first segment took 10% longer at 1/4 and 3% at 1/8.
double first_segment_weight(const Geometry& g, std::uint64_t data_bits) {
  const double write_bits = g.out == 2 ? 4 : 1;
  return 1 + write_bits * static_cast<double>(g.total_blocks) / static_cast<double>(data_bits);
}

int record_slots(int out) {
  return out == 2 ? ReducedBlock<2>::kRecordSlots : ReducedBlock<1>::kRecordSlots;
}

// The first block start both segments reached in the same place of the MCU, `a` in
// its true part. Both lists are in bit order.
bool meet(const Segment& a, const Segment& b, const BlockStart*& at_a, const BlockStart*& at_b) {
  auto i = a.tail.begin();
  auto j = b.head.begin();
  while (i != a.tail.end() && j != b.head.end()) {
    if (i->bit < j->bit) {
      ++i;
    } else if (j->bit < i->bit) {
      ++j;
    } else {
      if (i->phase == j->phase && i->block >= a.first_true) {
        at_a = &*i;
        at_b = &*j;
        return true;
      }
      ++i;
      ++j;
    }
  }
  return false;
}

bool clean_between(const Segment& s, std::int64_t from, std::int64_t to) {
  return std::none_of(s.anomalies.begin(), s.anomalies.end(), [&](std::int64_t n) { return n >= from && n < to; });
}

// Joins the decoded segments: where each became true, its global block numbers and
// DC offsets. False when one never met the truth, or the true decode hit something
// libjpeg would warn about, or the data does not end where the last block does.
bool join(const Geometry& g, const std::vector<Segment*>& segments, std::uint64_t data_bits, SplitDecodeStats* stats) {
  Segment& first = *segments.front();
  first.base = 0;
  first.first_true = 0;
  for (std::size_t i = 1; i < segments.size(); ++i) {
    Segment& a = *segments[i - 1];
    Segment& b = *segments[i];
    const BlockStart* at_a = nullptr;
    const BlockStart* at_b = nullptr;
    if (a.overflowed || !meet(a, b, at_a, at_b)) return false;
    const std::int64_t global = a.base + at_a->block;
    if (global <= a.base + a.first_true || global >= g.total_blocks) return false;
    a.end_true = at_a->block;
    if (!clean_between(a, a.first_true, a.end_true)) return false;
    b.base = global - at_b->block;
    b.first_true = at_b->block;
    for (std::size_t c = 0; c < kComponents; ++c)
      b.dc_offset[c] = at_a->predictor[c] + a.dc_offset[c] - at_b->predictor[c];
    if (stats != nullptr) stats->sync_bits.push_back(static_cast<std::int64_t>(at_b->bit - b.begin));
  }
  // The last segment ends with the image: block total_blocks starts (the data ends)
  // within the last byte, with nothing left over.
  Segment& last = *segments.back();
  last.end_true = g.total_blocks - last.base;
  if (last.overflowed || last.end_true <= last.first_true || !clean_between(last, last.first_true, last.end_true))
    return false;
  const auto end = std::find_if(last.tail.begin(), last.tail.end(),
                                [&](const BlockStart& s) { return s.block == last.end_true; });
  return end != last.tail.end() && ends_in_last_byte(end->bit, data_bits);
}

// Own blocks [from, to) of kept segment `s` into the planes, with their true DC terms.
// False when a block's true DC term takes it where libjpeg's builds disagree
// (jpeg_reduced_idct.hpp).
template <int kOut>
bool emit_blocks(const Geometry& g, const Segment& s, std::int64_t from, std::int64_t to) {
  using Block = ReducedBlock<kOut>;
  constexpr int kRecord = Block::kRecordSlots;
  // Per phase: the DC offset of its component, wrapped to 16 bits as libjpeg stores DC
  // terms, and the component's dequantiser.
  std::array<std::uint16_t, kMaxBlocksPerMcu> offset{};
  std::array<const Dequant*, kMaxBlocksPerMcu> dequant{};
  for (int phase = 0; phase < g.blocks_per_mcu; ++phase) {
    const auto c = static_cast<std::size_t>(g.phases[static_cast<std::size_t>(phase)].component);
    offset[static_cast<std::size_t>(phase)] = static_cast<std::uint16_t>(s.dc_offset[c] & 0xFFFF);
    dequant[static_cast<std::size_t>(phase)] = &g.dequant[c];
  }
  bool agreed = true;
  BlockCursor<kOut> at(g, s.base + from);
  for (std::int64_t n = from; n < to; ++n, at.next()) {
    const std::int16_t* record = s.records.get() + n * kRecord;
    const auto ph = static_cast<std::size_t>(at.where().phase);
    const auto dc = static_cast<std::int16_t>(static_cast<std::uint16_t>(Block::kept_dc(record)) + offset[ph]);
    at.write([&](std::uint8_t* out, std::ptrdiff_t stride) {
      agreed &= Block::kept_samples(record, dc, *dequant[ph], out, stride);
    });
  }
  return agreed;
}

// The samples of the kept segments' true blocks, with their true DC terms, in pieces
// of about equal size on all threads. False when a block's true DC term takes it where
// libjpeg's builds disagree (jpeg_reduced_idct.hpp).
template <int kOut>
bool emit_kept(const Geometry& g, const std::vector<Segment*>& segments, int pieces) {
  struct Piece {
    const Segment* segment;
    std::int64_t from, to;  // own block indexes
  };
  std::vector<Piece> work;
  std::int64_t total = 0;
  for (const Segment* s : segments)
    if (s->keep) total += s->end_true - s->first_true;
  const std::int64_t size = std::max<std::int64_t>(4096, (total + pieces - 1) / std::max(1, pieces));
  for (const Segment* s : segments) {
    if (!s->keep) continue;
    for (std::int64_t from = s->first_true; from < s->end_true; from += size)
      work.push_back(Piece{s, from, std::min(s->end_true, from + size)});
  }
  std::atomic<bool> agreed{true};
  parallel_tasks(static_cast<int>(work.size()), [&](int i) {
    const Piece& piece = work[static_cast<std::size_t>(i)];
    if (!emit_blocks<kOut>(g, *piece.segment, piece.from, piece.to)) agreed = false;
  });
  return agreed;
}

// The segments of one speculative decode: cut up front, one per task, and split again
// while they run by tasks that finished early (steal). One core of a shared host can
// run slower than the other for seconds, and fixed pieces finish with the slower core.
class Segments {
 public:
  // `first`: the first segment's weight (first_segment_weight); `most_kept`: how many
  // kept segments the record budget allows.
  Segments(const Geometry& g, const Shares& shares, std::size_t n, double first, std::int64_t max_kept,
           std::size_t most_kept)
      : g_(g), shares_(shares), max_kept_(max_kept), parts_(std::clamp<std::size_t>(most_kept + 1, n, 3 * n)),
        used_(n) {
    const std::uint64_t data_bytes = shares.data_bits / 8;
    const auto cut = [&](std::size_t i) -> std::uint64_t {
      if (i == 0) return 0;
      const double share = (1 + static_cast<double>(i - 1) * first) / (1 + static_cast<double>(n - 1) * first);
      return static_cast<std::uint64_t>(static_cast<double>(data_bytes) * share) * 8;
    };
    for (std::size_t i = 0; i < n; ++i) place(parts_[i], cut(i), i + 1 == n ? shares.data_bits : cut(i + 1), i > 0);
  }

  Segment& operator[](std::size_t i) { return parts_[i]; }

  // Asks the running segment with the most left of its share for the second half of
  // it (Shares::answer) and returns the new segment that takes it over; nullptr when
  // that one had too little left, none runs, or the record budget is spent. One thief
  // at a time; the segment answers within a block, or when it stops.
  Segment* steal() {
    const std::lock_guard lock(mutex_);
    if (used_ == parts_.size()) return nullptr;
    Segment* victim = nullptr;
    std::uint64_t most = 0;
    for (std::size_t i = 0; i < used_; ++i) {
      Segment& s = parts_[i];
      const std::lock_guard running(s.mutex);
      const std::uint64_t at = s.progress.load(std::memory_order_relaxed);
      if (s.running && s.share_end > at && s.share_end - at > most) victim = &s, most = s.share_end - at;
    }
    if (victim == nullptr || most < Shares::kStealMargins * shares_.margin) return nullptr;
    std::unique_lock answer(victim->mutex);
    if (!victim->running) return nullptr;
    victim->has_answer = false;
    victim->asked = true;
    victim->answered.wait(answer, [&] { return victim->has_answer; });
    if (victim->given == 0) return nullptr;
    Segment& thief = parts_[used_++];
    place(thief, victim->given, victim->given_end, true);
    return &thief;
  }

  // The segments in bit order, for join() and emit_kept(), once all have run.
  std::vector<Segment*> in_order() {
    std::vector<Segment*> order;
    for (std::size_t i = 0; i < used_; ++i) order.push_back(&parts_[i]);
    std::sort(order.begin(), order.end(), [](const Segment* a, const Segment* b) { return a->begin < b->begin; });
    return order;
  }

 private:
  // Sets up `s` for the data from `begin` to `share_end`; the first segment (not
  // `keep`) is true from its first bit and writes samples.
  void place(Segment& s, std::uint64_t begin, std::uint64_t share_end, bool keep) {
    s.begin = begin;
    s.keep = keep;
    s.head_end = keep ? begin + shares_.margin : 0;
    s.progress = begin;
    shares_.end_share(s, share_end);
    s.max_blocks = keep ? max_kept_ : g_.total_blocks + 1;
    const auto span = static_cast<std::int64_t>(s.stop - begin);
    s.expected_blocks = std::min<std::int64_t>(
        s.max_blocks, g_.total_blocks * span / static_cast<std::int64_t>(shares_.data_bits) + 1024);
  }

  const Geometry& g_;
  const Shares shares_;
  std::int64_t max_kept_;
  std::vector<Segment> parts_;  // sized once: steal() fills the rest in place
  std::size_t used_;
  std::mutex mutex_;
};

}  // namespace

bool decode_split_into(Bytes jpeg, const RestartLayout& layout, int scale, int scaled_width, int scaled_height,
                       int subsampling, const SplitDecodeOptions& options, const YuvPlanesView& dst,
                       SplitDecodeStats* stats) {
  const std::uint64_t margin = std::max<std::uint64_t>(options.sync_margin_bits, 64);
  Tables tables;
  Geometry g;
  if (options.segments < 1 || !read_tables(jpeg, layout, tables) ||
      !make_geometry(layout, tables, scale, scaled_width, scaled_height, subsampling, dst, g))
    return false;
  std::vector<std::uint8_t> data;
  std::vector<std::uint64_t> starts;
  if (!unstuff(jpeg, layout, data, starts)) return false;
  if (layout.restart_interval > 0) {
    // Eight runs of intervals per task: runs finish at different times. At most one
    // run per interval (`starts` has one entry per interval).
    const int runs = std::min<int>(options.segments == 1 ? 1 : 8 * options.segments, static_cast<int>(starts.size()));
    if (stats != nullptr) *stats = SplitDecodeStats{runs, {}};
    const bool done = g.out == 2 ? decode_intervals<2>(g, layout, data, starts, runs)
                                 : decode_intervals<1>(g, layout, data, starts, runs);
    if (done) fill_luma_padding(g);
    return done;
  }
  const std::uint64_t data_bytes = data.size() - kPadBytes;
  const std::uint64_t data_bits = data_bytes * 8;
  if (data_bits == 0) return false;

  // One segment per task, but none shorter than twice the margin. The first is the
  // shortest, by first_segment_weight, so that all finish decoding together.
  const double weight = first_segment_weight(g, data_bits);
  const double most = 1 + (static_cast<double>(data_bits) / static_cast<double>(2 * margin) - 1) / weight;
  const auto n = static_cast<std::size_t>(std::clamp<double>(std::floor(most), 1, options.segments));
  // A kept segment holds its share of the blocks plus the margin's, say twice that;
  // past it the data is not what it seemed (or far from the truth): libjpeg decides.
  const std::int64_t max_kept = 2 * g.total_blocks / static_cast<std::int64_t>(n) + 4096;
  const std::int64_t kept_bytes = max_kept * record_slots(g.out) * 2;
  if (static_cast<std::int64_t>(n - 1) * kept_bytes > kMaxKeptBytes) return false;
  const Shares shares{data_bits, margin};
  Segments parts(g, shares, n, weight, max_kept, static_cast<std::size_t>(kMaxKeptBytes / kept_bytes));
  const auto decode = [&](auto out) {
    constexpr int kOut = decltype(out)::value;
    const auto run = [&](Segment& s) {
      Shares::start(s);
      // Whatever happens, a thief waiting for this segment's answer gets one.
      struct Finish {
        Segment& s;
        ~Finish() { Shares::finish(s); }
      } finish{s};
      decode_segment<kOut>(g, data.data(), shares, s);
    };
    parallel_tasks(static_cast<int>(n), [&](int i) {
      run(parts[static_cast<std::size_t>(i)]);
      if (n > 1 && options.steal) {
        while (Segment* stolen = parts.steal()) run(*stolen);
      }
    });
    const std::vector<Segment*> order = parts.in_order();
    const auto count = static_cast<int>(order.size());
    if (stats != nullptr) *stats = SplitDecodeStats{count, {}, count - static_cast<int>(n)};
    if (!join(g, order, data_bits, stats)) return false;
    return emit_kept<kOut>(g, order, 2 * cv::getNumThreads());
  };
  const bool done = g.out == 2 ? decode(std::integral_constant<int, 2>{}) : decode(std::integral_constant<int, 1>{});
  if (!done) return false;
  fill_luma_padding(g);
  return true;
}

}  // namespace pixelmill::imaging
