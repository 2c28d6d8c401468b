// Resize geometry, after sharp's ResolveShrink / CalculateCrop / CalculateEmbedPosition
// (src/common.cc) and its pipeline's crop/embed step, computed in exact integer
// arithmetic. See geometry.hpp for the plan and the order the caller applies it in.
#include "pixelmill/imaging/geometry.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <tuple>
#include <utility>

namespace pixelmill::imaging {

namespace {

using i64 = std::int64_t;

// a / b rounded to nearest, halves up (a >= 0, b > 0). This is libvips' rounding of a
// resize's output size (VIPS_ROUND_UINT(size * scale), i.e. floor(x + 0.5)), done on
// integers so that e.g. 667 * 500 / 1000 = 333.5 gives 334 exactly, with no
// floating-point noise deciding which side of .5 we land on. Quotient and remainder
// instead of (2a + b) / 2b so that nothing overflows.
i64 round_div(i64 a, i64 b) {
  i64 q = a / b;
  i64 r = a % b;
  return r >= b - r ? q + 1 : q;
}

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

std::string size_text(i64 w, i64 h) { return std::to_string(w) + "x" + std::to_string(h); }

// Scales `source` so that one side becomes `target_side` exactly: the side given by
// `by_width`. The other side is rounded as above and clamped to >= 1 — sharp's
// "don't shrink so much that we send an axis to 0" (shrink <= that side's length):
// 4000x1 to w=100 gives 100x1, not 100x0.
std::pair<i64, i64> scale_to(i64 src_w, i64 src_h, i64 target_side, bool by_width) {
  if (by_width) return {target_side, std::max<i64>(1, round_div(src_h * target_side, src_w))};
  return {std::max<i64>(1, round_div(src_w * target_side, src_h)), target_side};
}

// (left, top) of an out_w x out_h window inside an in_w x in_h image (cover's crop).
// sharp's CalculateCrop: centring rounds the offset up ((d + 1) / 2).
std::pair<int, int> crop_offset(int in_w, int in_h, int out_w, int out_h, Position p) {
  const int dx = in_w - out_w;
  const int dy = in_h - out_h;
  const int cx = (dx + 1) / 2;
  const int cy = (dy + 1) / 2;
  switch (p) {
    case Position::north: return {cx, 0};
    case Position::northeast: return {dx, 0};
    case Position::east: return {dx, cy};
    case Position::southeast: return {dx, dy};
    case Position::south: return {cx, dy};
    case Position::southwest: return {0, dy};
    case Position::west: return {0, cy};
    case Position::northwest: return {0, 0};
    case Position::centre: break;
  }
  return {cx, cy};
}

// (left, top) of an in_w x in_h image on an out_w x out_h canvas (contain's padding).
// sharp's CalculateEmbedPosition: centring rounds the offset down (d / 2), so an odd
// leftover pixel of padding goes right / bottom.
std::pair<int, int> embed_offset(int in_w, int in_h, int out_w, int out_h, Position p) {
  const int dx = out_w - in_w;
  const int dy = out_h - in_h;
  switch (p) {
    case Position::north: return {dx / 2, 0};
    case Position::northeast: return {dx, 0};
    case Position::east: return {dx, dy / 2};
    case Position::southeast: return {dx, dy};
    case Position::south: return {dx / 2, dy};
    case Position::southwest: return {0, dy};
    case Position::west: return {0, dy / 2};
    case Position::northwest: return {0, 0};
    case Position::centre: break;
  }
  return {dx / 2, dy / 2};
}

std::optional<Position> parse_two_words(std::string_view a, std::string_view b) {
  // Horizontal word first, as sharp spells them ("right top").
  if (a == "top" || a == "bottom") std::swap(a, b);
  const bool top = b == "top";
  if (!top && b != "bottom") return std::nullopt;
  if (a == "right") return top ? Position::northeast : Position::southeast;
  if (a == "left") return top ? Position::northwest : Position::southwest;
  return std::nullopt;
}

}  // namespace

std::optional<Fit> parse_fit(std::string_view text) noexcept {
  if (text == "cover") return Fit::cover;
  if (text == "contain") return Fit::contain;
  if (text == "fill") return Fit::fill;
  if (text == "inside") return Fit::inside;
  if (text == "outside") return Fit::outside;
  return std::nullopt;
}

std::optional<Position> parse_position(std::string_view text) noexcept {
  static constexpr std::array<std::pair<std::string_view, Position>, 14> names{{
      {"centre", Position::centre},
      {"center", Position::centre},
      {"north", Position::north},
      {"northeast", Position::northeast},
      {"east", Position::east},
      {"southeast", Position::southeast},
      {"south", Position::south},
      {"southwest", Position::southwest},
      {"west", Position::west},
      {"northwest", Position::northwest},
      {"top", Position::north},
      {"right", Position::east},
      {"bottom", Position::south},
      {"left", Position::west},
  }};
  for (const auto& [name, position] : names) {
    if (text == name) return position;
  }
  const auto sep = text.find_first_of(" -_");
  if (sep == std::string_view::npos) return std::nullopt;
  const std::string_view first = text.substr(0, sep);
  const std::string_view second = text.substr(sep + 1);
  if (second.find_first_of(" -_") != std::string_view::npos) return std::nullopt;
  return parse_two_words(first, second);
}

std::string_view to_string(Fit fit) noexcept {
  switch (fit) {
    case Fit::cover: return "cover";
    case Fit::contain: return "contain";
    case Fit::fill: return "fill";
    case Fit::inside: return "inside";
    case Fit::outside: return "outside";
  }
  return "cover";
}

std::string_view to_string(Position position) noexcept {
  switch (position) {
    case Position::centre: return "centre";
    case Position::north: return "north";
    case Position::northeast: return "northeast";
    case Position::east: return "east";
    case Position::southeast: return "southeast";
    case Position::south: return "south";
    case Position::southwest: return "southwest";
    case Position::west: return "west";
    case Position::northwest: return "northwest";
  }
  return "centre";
}

int normalize_orientation(int exif_orientation) noexcept {
  return exif_orientation >= 1 && exif_orientation <= 8 ? exif_orientation : 1;
}

OrientOps orient_ops(int exif_orientation) noexcept {
  // Rotation first, then an optional left-right mirror. Derivation: with raw pixel
  // (x, y) in a W x H image, 6 needs (x, y) -> (H-1-y, x) = 90 clockwise; 5 is the
  // transpose (x, y) -> (y, x) = 90 clockwise then mirror; 7 the transverse
  // (x, y) -> (H-1-y, W-1-x) = 270 clockwise then mirror; 4 (upside-down mirror)
  // = 180 then mirror.
  switch (normalize_orientation(exif_orientation)) {
    case 2: return {0, true};
    case 3: return {180, false};
    case 4: return {180, true};
    case 5: return {90, true};
    case 6: return {90, false};
    case 7: return {270, true};
    case 8: return {270, false};
    default: return {0, false};
  }
}

bool orientation_swaps_axes(int exif_orientation) noexcept {
  return normalize_orientation(exif_orientation) >= 5;
}

GeometryError::GeometryError(Reason reason, const std::string& message)
    : std::invalid_argument(message), reason_(reason) {}

std::string_view GeometryError::parameter() const noexcept {
  switch (reason_) {
    case Reason::invalid_width:
    case Reason::width_over_limit: return "w";
    case Reason::invalid_height:
    case Reason::height_over_limit: return "h";
    default: return "";
  }
}

GeometryPlan plan_geometry(const GeometryRequest& request) {
  using Reason = GeometryError::Reason;
  const int limit = request.max_output_dimension;

  // --- Validation: request parameters first (they name w / h), then our inputs.
  if (request.width && *request.width <= 0) {
    throw GeometryError(Reason::invalid_width,
                        "w must be a positive integer, got " + std::to_string(*request.width));
  }
  if (request.height && *request.height <= 0) {
    throw GeometryError(Reason::invalid_height,
                        "h must be a positive integer, got " + std::to_string(*request.height));
  }
  if (limit <= 0) {
    throw GeometryError(Reason::invalid_source,
                        "max_output_dimension must be positive, got " + std::to_string(limit));
  }
  // Over the limit is refused, never silently clamped: the client would get an image
  // of a size it did not ask for.
  if (request.width && *request.width > limit) {
    throw GeometryError(Reason::width_over_limit,
                        "w=" + std::to_string(*request.width) + " exceeds the maximum output dimension " +
                            std::to_string(limit));
  }
  if (request.height && *request.height > limit) {
    throw GeometryError(Reason::height_over_limit,
                        "h=" + std::to_string(*request.height) + " exceeds the maximum output dimension " +
                            std::to_string(limit));
  }
  if (request.source.width <= 0 || request.source.height <= 0) {
    throw GeometryError(Reason::invalid_source,
                        "source image has an empty side: " +
                            size_text(request.source.width, request.source.height));
  }

  GeometryPlan plan;
  plan.orientation = normalize_orientation(request.orientation);
  plan.orient = orient_ops(plan.orientation);
  plan.swaps_axes = orientation_swaps_axes(plan.orientation);
  // All geometry is computed on the upright image.
  plan.oriented = plan.swaps_axes ? Size{request.source.height, request.source.width} : request.source;

  const i64 src_w = plan.oriented.width;
  const i64 src_h = plan.oriented.height;
  const bool have_w = request.width.has_value();
  const bool have_h = request.height.has_value();
  const i64 box_w = have_w ? *request.width : 0;
  const i64 box_h = have_h ? *request.height : 0;

  // --- Resize size (sharp's ResolveShrink), in exact integers.
  i64 resize_w = src_w;
  i64 resize_h = src_h;
  if (have_w && have_h && request.fit == Fit::fill) {
    // Each axis on its own; without enlargement each is clamped on its own too
    // (sharp: hshrink = max(1, hshrink), vshrink = max(1, vshrink)), so 2725x2225 ->
    // fill 3000x320 gives 2725x320.
    resize_w = request.enlarge ? box_w : std::min(box_w, src_w);
    resize_h = request.enlarge ? box_h : std::min(box_h, src_h);
  } else if (have_w || have_h) {
    // One scale for both axes. Only w or only h (any fit, fill included) scales by
    // that side. With both: cover/outside take the larger scale (both sides reach the
    // box), contain/inside the smaller (both sides fit in it). Compare w/W with h/H
    // as w*H against h*W, exactly.
    bool by_width = have_w;
    if (have_w && have_h) {
      const bool width_scale_larger = box_w * src_h >= box_h * src_w;
      const bool cover_like = request.fit == Fit::cover || request.fit == Fit::outside;
      by_width = cover_like ? width_scale_larger : !width_scale_larger;
    }
    const i64 target = by_width ? box_w : box_h;
    const i64 source_side = by_width ? src_w : src_h;
    // No enlargement: a scale above 1 becomes exactly 1, i.e. the source size (sharp's
    // withoutEnlargement, "VIPS_SIZE_DOWN"). Both axes share the scale, so the image
    // keeps its size entirely; the crop/pad below still applies.
    if (request.enlarge || target <= source_side) {
      std::tie(resize_w, resize_h) = scale_to(src_w, src_h, target, by_width);
    }
  }

  // --- Crop (cover) or pad (contain) to the box, only when both w and h are given:
  // with one side given the output is the resized image (sharp: the missing side
  // "resolves" to the resized size, so there is nothing to crop or pad).
  i64 out_w = resize_w;
  i64 out_h = resize_h;
  if (have_w && have_h && request.fit == Fit::cover) {
    // Normally resize covers the box and the crop makes the output exactly w x h.
    // Without enlargement the resize may be smaller than the box on one or both
    // sides; sharp then crops only the sides that overflow and never pads up:
    // 2725x2225 -> cover 3000x1000 gives 2725x1000.
    out_w = std::min(box_w, resize_w);
    out_h = std::min(box_h, resize_h);
  } else if (have_w && have_h && request.fit == Fit::contain) {
    // The canvas is always exactly w x h, enlarge or not: sharp embeds into
    // max(resized, box), and a contained resize never exceeds the box (the 1-pixel
    // floor cannot exceed a box side, which is >= 1). withoutEnlargement keeps the
    // image itself at its size and pads around it: 100x100 -> contain 200x300 is the
    // 100x100 image on a 200x300 canvas.
    out_w = std::max(box_w, resize_w);
    out_h = std::max(box_h, resize_h);
  }

  // --- The limit bounds every image the plan makes the caller allocate: the resized
  // one (cover with enlarge of a 4000x1 source into 100x100 would resize to
  // 400000x100 before cropping) and the output (only w=100 on a 1x4000 source with
  // enlarge is 100x400000). A source already over the limit with no w/h is refused too.
  if (resize_w > limit || resize_h > limit || out_w > limit || out_h > limit) {
    const bool output_over = out_w > limit || out_h > limit;
    throw GeometryError(Reason::output_over_limit,
                        std::string(output_over ? "output" : "intermediate resized") + " image would be " +
                            size_text(output_over ? out_w : resize_w, output_over ? out_h : resize_h) +
                            " (from a " + size_text(src_w, src_h) + " source), over the maximum output dimension " +
                            std::to_string(limit));
  }

  plan.resize = {static_cast<int>(resize_w), static_cast<int>(resize_h)};
  plan.output = {static_cast<int>(out_w), static_cast<int>(out_h)};
  plan.crop = {0, 0, plan.resize.width, plan.resize.height};
  plan.placement = {0, 0, plan.output.width, plan.output.height};
  if (have_w && have_h && request.fit == Fit::cover) {
    const auto [left, top] = crop_offset(plan.resize.width, plan.resize.height, plan.output.width,
                                         plan.output.height, request.position);
    plan.crop = {left, top, plan.output.width, plan.output.height};
  } else if (have_w && have_h && request.fit == Fit::contain) {
    const auto [left, top] = embed_offset(plan.resize.width, plan.resize.height, plan.output.width,
                                          plan.output.height, request.position);
    plan.placement = {left, top, plan.resize.width, plan.resize.height};
  }

  // --- Shrink-on-load: the largest of 8, 4, 2 whose decoded image still covers the
  // resize size on both axes, so the final resize only ever shrinks (or is a no-op).
  // libjpeg scales a side to ceil(side / n) (jdiv_round_up; OpenCV 4.6 decodes a
  // 101x3837 JPEG with IMREAD_REDUCED_COLOR_8 to 13x480), so 3837 rows at 1/8 give
  // 480, not 479. A factor beyond the shorter raw side would only pin that side at
  // one pixel, so it is not used (a 1x1 source decodes at 1/1).
  const i64 raw_w = request.source.width;
  const i64 raw_h = request.source.height;
  plan.shrink_on_load = 1;
  if (request.decoder_can_shrink) {
    for (const int factor : {8, 4, 2}) {
      if (factor > std::min(raw_w, raw_h)) continue;
      i64 dw = ceil_div(raw_w, factor);
      i64 dh = ceil_div(raw_h, factor);
      if (plan.swaps_axes) std::swap(dw, dh);
      if (dw >= resize_w && dh >= resize_h) {
        plan.shrink_on_load = factor;
        break;
      }
    }
  }
  // The resize size stays what it was computed from the full-resolution source: the
  // output never depends on whether the decoder could shrink. Resizing from the
  // decoded image to it is a scale of at most 1 on each axis (the two axes may differ
  // by under a pixel's worth because of the ceil rounding).
  plan.decoded = {static_cast<int>(ceil_div(raw_w, plan.shrink_on_load)),
                  static_cast<int>(ceil_div(raw_h, plan.shrink_on_load))};
  plan.decoded_oriented =
      plan.swaps_axes ? Size{plan.decoded.height, plan.decoded.width} : plan.decoded;
  return plan;
}

}  // namespace pixelmill::imaging
