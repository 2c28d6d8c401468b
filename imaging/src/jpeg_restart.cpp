// Splitting a baseline JPEG at its restart markers. See jpeg_restart.hpp.
#include "jpeg_restart.hpp"

#include <algorithm>
#include <cstring>

namespace pixelmill::imaging {
namespace {

using Bytes = std::span<const std::uint8_t>;

constexpr std::uint8_t kSoi = 0xD8, kEoi = 0xD9, kRst0 = 0xD0, kRst7 = 0xD7;
constexpr std::uint8_t kSof0 = 0xC0, kSof1 = 0xC1, kDht = 0xC4, kDqt = 0xDB, kDri = 0xDD,
                       kSos = 0xDA, kApp0 = 0xE0, kApp14 = 0xEE, kCom = 0xFE;
constexpr int kMaxComponents = 4;  // gray, YCbCr/RGB, CMYK/YCCK
constexpr int kMaxBlocksPerMcu = 10;  // JPEG's limit for an interleaved scan

int be16(Bytes b, std::size_t at) { return (b[at] << 8) | b[at + 1]; }

bool starts_with(Bytes body, const char* tag, std::size_t n) {
  return body.size() >= n && std::memcmp(body.data(), tag, n) == 0;
}

struct Component {
  int id = 0;
  int h = 0;
  int v = 0;
  int tq = 0;
};

// Entropy-coded data from `layout.scan_start`: records every RSTn, checks their
// sequence, stops at EOI. False on anything else. At most `expected` markers are
// stored, so the vector stays bounded by the input even when the geometry is huge.
bool walk_scan(Bytes jpeg, RestartLayout& layout, std::int64_t expected) {
  const std::uint8_t* const data = jpeg.data();
  std::size_t p = layout.scan_start;
  while (p < jpeg.size()) {
    const void* hit = std::memchr(data + p, 0xFF, jpeg.size() - p);
    if (hit == nullptr) return false;  // no EOI
    const auto q = static_cast<std::size_t>(static_cast<const std::uint8_t*>(hit) - data);
    if (q + 1 >= jpeg.size()) return false;
    const std::uint8_t b = data[q + 1];
    if (b == 0x00) {  // stuffed 0xFF data byte
      p = q + 2;
    } else if (b == 0xFF) {  // fill byte before a marker
      p = q + 1;
    } else if (b >= kRst0 && b <= kRst7) {
      if (static_cast<std::int64_t>(layout.restarts.size()) >= expected) return false;
      if (b - kRst0 != static_cast<int>(layout.restarts.size() % 8)) return false;
      layout.restarts.push_back(q);
      p = q + 2;
    } else if (b == kEoi) {
      layout.eoi_offset = q;
      return static_cast<std::int64_t>(layout.restarts.size()) == expected;
    } else {
      return false;  // DNL, a second scan, tables between scans, garbage: not ours
    }
  }
  return false;
}

std::int64_t interval_count(const RestartLayout& l) {
  const std::int64_t mcus = std::int64_t{l.mcus_per_row} * l.mcu_rows;
  return (mcus + l.restart_interval - 1) / l.restart_interval;
}

// Rows of MCUs between two row-aligned restarts.
int unit_rows(const RestartLayout& l) {
  return l.restart_interval >= l.mcus_per_row ? l.restart_interval / l.mcus_per_row : 1;
}

// The checks split_at_restarts needs to index safely, whatever the layout holds.
bool fits(Bytes jpeg, const RestartLayout& l) {
  if (l.width <= 0 || l.height <= 0 || l.mcu_width <= 0 || l.mcu_height <= 0 ||
      l.mcus_per_row <= 0 || l.mcu_rows <= 0 || l.restart_interval <= 0)
    return false;
  if (std::int64_t{l.mcu_rows} * l.mcu_height < l.height ||
      std::int64_t{l.mcu_rows - 1} * l.mcu_height >= l.height)
    return false;
  if (l.restart_interval <= l.mcus_per_row ? l.mcus_per_row % l.restart_interval != 0
                                           : l.restart_interval % l.mcus_per_row != 0)
    return false;
  if (static_cast<std::int64_t>(l.restarts.size()) != interval_count(l) - 1) return false;
  if (jpeg.size() < 2 || l.eoi_offset > jpeg.size() - 2 || l.scan_start > l.eoi_offset) return false;
  std::size_t previous = l.scan_start;
  for (const std::size_t r : l.restarts) {
    if (r < previous || r + 2 > l.eoi_offset) return false;
    previous = r + 2;
  }
  if (l.sof_offset > jpeg.size() || jpeg.size() - l.sof_offset < 7) return false;
  for (const ByteRange& s : l.header_segments)
    if (s.offset > l.scan_start || s.size > l.scan_start - s.offset) return false;
  return true;
}

}  // namespace

std::optional<RestartLayout> scan_layout(Bytes jpeg) {
  if (jpeg.size() < 4 || jpeg[0] != 0xFF || jpeg[1] != kSoi) return std::nullopt;
  RestartLayout layout;
  layout.header_segments.push_back({0, 2});
  Component components[kMaxComponents];
  int component_count = 0;
  bool have_sof = false;
  std::size_t p = 2;
  for (;;) {
    // The next marker: 0xFF, any 0xFF fill bytes, a code other than 0. Like libjpeg
    // (next_marker), skip anything else between segments with no more than a warning;
    // bands do not copy those bytes. (Pillow's jpeg_ff00_header.jpg has FF 00 00 02.)
    for (;;) {
      const std::size_t from = p;
      while (p < jpeg.size() && jpeg[p] != 0xFF) ++p;
      if (p != from) layout.header_warning = true;
      while (p < jpeg.size() && jpeg[p] == 0xFF) ++p;
      if (p >= jpeg.size()) return std::nullopt;
      if (jpeg[p] != 0x00) break;
      layout.header_warning = true;
      ++p;  // FF 00 is no marker here
    }
    const std::size_t marker = p - 1;
    const std::uint8_t code = jpeg[p++];
    // Every marker allowed before SOS has a length; standalone ones (SOI, EOI, RSTn,
    // TEM) are refused below, whatever their next two bytes say.
    if (jpeg.size() - p < 2) return std::nullopt;
    const int length = be16(jpeg, p);
    if (length < 2 || static_cast<std::size_t>(length) > jpeg.size() - p) return std::nullopt;
    const Bytes body = jpeg.subspan(p + 2, static_cast<std::size_t>(length) - 2);
    const ByteRange segment{marker, 2 + static_cast<std::size_t>(length)};
    p += static_cast<std::size_t>(length);

    if (code == kSof0 || code == kSof1) {
      if (have_sof || body.size() < 6) return std::nullopt;
      have_sof = true;
      // 8-bit only: 12-bit SOF1 files need another libjpeg build anyway.
      if (body[0] != 8) return std::nullopt;
      layout.height = be16(body, 1);  // 0 means a DNL marker follows the scan
      layout.width = be16(body, 3);
      component_count = body[5];
      if (layout.height == 0 || layout.width == 0) return std::nullopt;
      if (component_count < 1 || component_count > kMaxComponents) return std::nullopt;
      if (body.size() != 6 + 3 * static_cast<std::size_t>(component_count)) return std::nullopt;
      for (int c = 0; c < component_count; ++c) {
        const std::size_t at = 6 + 3 * static_cast<std::size_t>(c);
        components[c] = {body[at], body[at + 1] >> 4, body[at + 1] & 0x0F, body[at + 2]};
        if (components[c].h < 1 || components[c].h > 4 || components[c].v < 1 || components[c].v > 4)
          return std::nullopt;
      }
      layout.components = component_count;
      for (int c = 0; c < component_count; ++c) {
        layout.h_sampling[static_cast<std::size_t>(c)] = components[c].h;
        layout.v_sampling[static_cast<std::size_t>(c)] = components[c].v;
        layout.quant_table[static_cast<std::size_t>(c)] = components[c].tq;
      }
      layout.sof_offset = marker;
      layout.header_segments.push_back(segment);
    } else if (code == kDht || code == kDqt) {
      layout.header_segments.push_back(segment);
    } else if (code == kDri) {
      if (body.size() != 2) return std::nullopt;
      layout.restart_interval = be16(body, 0);  // the last DRI before the scan counts
      layout.header_segments.push_back(segment);
    } else if (code == kApp0 || code == kApp14) {
      // These two decide the colour transform; everything else in APPn is metadata.
      if (starts_with(body, "JFIF\0", 5) || starts_with(body, "Adobe", 5))
        layout.header_segments.push_back(segment);
      // libjpeg warns about a JFIF major version other than 1 or 2.
      if (starts_with(body, "JFIF\0", 5) && body.size() >= 6 && body[5] != 1 && body[5] != 2)
        layout.header_warning = true;
    } else if ((code > kApp0 && code < kApp14) || code == 0xEF || code == kCom) {
      // metadata and comments: not copied into bands
    } else if (code == kSos) {
      if (!have_sof || body.empty()) return std::nullopt;
      const int scan_components = body[0];
      // All components in this one scan: a scan with fewer means more scans follow.
      if (scan_components != component_count) return std::nullopt;
      if (body.size() != 4 + 2 * static_cast<std::size_t>(scan_components)) return std::nullopt;
      bool seen[kMaxComponents] = {};
      for (int s = 0; s < scan_components; ++s) {
        const int id = body[1 + 2 * static_cast<std::size_t>(s)];
        int match = -1;
        for (int c = 0; c < component_count; ++c)
          if (components[c].id == id && !seen[c]) match = c;
        if (match < 0) return std::nullopt;
        seen[match] = true;
        const std::uint8_t tables = body[2 + 2 * static_cast<std::size_t>(s)];
        layout.scan_order[static_cast<std::size_t>(s)] = match;
        layout.dc_table[static_cast<std::size_t>(s)] = tables >> 4;
        layout.ac_table[static_cast<std::size_t>(s)] = tables & 0x0F;
      }
      const std::size_t tail = 1 + 2 * static_cast<std::size_t>(scan_components);
      // Spectral selection 0..63, no successive approximation: a sequential scan.
      if (body[tail] != 0 || body[tail + 1] != 63 || body[tail + 2] != 0) return std::nullopt;
      layout.header_segments.push_back(segment);
      layout.scan_start = p;
      break;
    } else {
      // SOF2/3/5-7/9-15 (progressive, lossless, hierarchical, arithmetic), DAC, DNL,
      // DHP, EXP, JPGn, reserved codes, standalone markers.
      return std::nullopt;
    }
  }
  if (component_count == 1) {
    // A single-component scan is non-interleaved: its MCU is one 8x8 block.
    layout.mcu_width = layout.mcu_height = 8;
  } else {
    int h_max = 1, v_max = 1, blocks = 0;
    for (int c = 0; c < component_count; ++c) {
      h_max = std::max(h_max, components[c].h);
      v_max = std::max(v_max, components[c].v);
      blocks += components[c].h * components[c].v;
    }
    if (blocks > kMaxBlocksPerMcu) return std::nullopt;
    layout.mcu_width = 8 * h_max;
    layout.mcu_height = 8 * v_max;
  }
  layout.mcus_per_row = (layout.width + layout.mcu_width - 1) / layout.mcu_width;
  layout.mcu_rows = (layout.height + layout.mcu_height - 1) / layout.mcu_height;
  const int ri = layout.restart_interval, per_row = layout.mcus_per_row;
  if (ri > 0 && (ri <= per_row ? per_row % ri != 0 : ri % per_row != 0)) return std::nullopt;

  if (!walk_scan(jpeg, layout, ri > 0 ? interval_count(layout) - 1 : 0)) return std::nullopt;
  return layout;
}

std::optional<RestartLayout> restart_layout(Bytes jpeg) {
  std::optional<RestartLayout> layout = scan_layout(jpeg);
  if (layout && layout->restart_interval == 0) return std::nullopt;
  return layout;
}

std::vector<JpegBand> split_at_restarts(Bytes jpeg, const RestartLayout& layout, int bands) {
  std::vector<JpegBand> out;
  if (bands < 1 || !fits(jpeg, layout)) return out;

  // The band header: the kept segments; the SOF height is patched per band.
  std::vector<std::uint8_t> header;
  std::size_t height_at = 0;
  bool have_sof = false;
  for (const ByteRange& s : layout.header_segments) {
    if (s.offset == layout.sof_offset) {
      if (s.size < 7) return out;
      height_at = header.size() + 5;
      have_sof = true;
    }
    header.insert(header.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(s.offset),
                  jpeg.begin() + static_cast<std::ptrdiff_t>(s.offset + s.size));
  }
  if (!have_sof) return out;

  const std::int64_t intervals = interval_count(layout);
  const std::int64_t unit = unit_rows(layout);
  const std::int64_t rows = layout.mcu_rows;
  const std::int64_t units = (rows + unit - 1) / unit;
  const std::int64_t n = std::min<std::int64_t>(bands, units);
  // Interval index at which MCU row r starts; r is a multiple of `unit`, or the end.
  const auto interval_at = [&](std::int64_t r) {
    return r >= rows ? intervals : r * layout.mcus_per_row / layout.restart_interval;
  };
  const auto pixel_row = [&](std::int64_t r) {
    return r >= rows ? std::int64_t{layout.height} : r * layout.mcu_height;
  };

  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t u0 = i * units / n, u1 = (i + 1) * units / n;
    const std::int64_t r0 = u0 * unit, r1 = std::min(u1 * unit, rows);
    const std::int64_t k0 = interval_at(r0), k1 = interval_at(r1);
    const std::size_t begin = k0 == 0 ? layout.scan_start : layout.restarts[static_cast<std::size_t>(k0 - 1)] + 2;
    const std::size_t end = k1 == intervals ? layout.eoi_offset : layout.restarts[static_cast<std::size_t>(k1 - 1)];

    JpegBand band;
    band.first_row = static_cast<int>(pixel_row(r0));
    band.rows = static_cast<int>(pixel_row(r1) - pixel_row(r0));
    const auto band_height = static_cast<unsigned>(band.rows);
    std::vector<std::uint8_t>& b = band.jpeg;
    b.reserve(header.size() + (end - begin) + 2);
    b.insert(b.end(), header.begin(), header.end());
    b[height_at] = static_cast<std::uint8_t>(band_height >> 8);
    b[height_at + 1] = static_cast<std::uint8_t>(band_height & 0xFF);
    const std::size_t data_at = b.size();
    b.insert(b.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(begin), jpeg.begin() + static_cast<std::ptrdiff_t>(end));
    // Renumber the markers inside the band from RST0: a decoder checks the sequence.
    for (std::int64_t k = k0; k + 1 < k1; ++k)
      b[data_at + (layout.restarts[static_cast<std::size_t>(k)] + 1 - begin)] =
          static_cast<std::uint8_t>(kRst0 + ((k - k0) & 7));
    b.push_back(0xFF);
    b.push_back(kEoi);
    out.push_back(std::move(band));
  }
  return out;
}

}  // namespace pixelmill::imaging
