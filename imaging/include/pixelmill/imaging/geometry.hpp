#pragma once
// Resize geometry: one pure function turns (source size, EXIF orientation, requested
// w/h, fit, position, enlarge, decoder shrink-on-load support, output limit) into a
// plan of plain numbers. It allocates no image and knows nothing of OpenCV; the
// decode/resize code executes the plan. Semantics follow sharp's resize()
// (https://sharp.pixelplumbing.com/api-resize, src/common.cc ResolveShrink,
// CalculateCrop, CalculateEmbedPosition) with sharp's `withoutEnlargement` on unless
// `enlarge` is set.
//
// The caller applies the plan in this order, all sizes are in pixels:
//   1. decode the raw (unrotated) pixels at 1/shrink_on_load scale, ignoring EXIF
//      orientation (OpenCV: IMREAD_REDUCED_COLOR_<n> | IMREAD_IGNORE_ORIENTATION)
//      -> an image of size `decoded`;
//   2. orient it: rotate clockwise by `orient.rotate_cw`, then mirror left-right if
//      `orient.flip_horizontal` -> `decoded_oriented`;
//   3. resize it to `resize` (skip when equal);
//   4. keep the `crop` rectangle of the resized image (cover only; otherwise it is
//      the whole resized image);
//   5. place the result at (`placement.x`, `placement.y`) on an `output`-sized canvas
//      filled with the background (contain only; otherwise placement is the whole
//      output and there is no padding).
// Steps 2 and 3 commute: to resize before orienting (cheaper: fewer pixels to
// rotate), resize to `resize` with width and height exchanged when `swaps_axes`.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pixelmill::imaging {

// sharp's `fit`.
enum class Fit {
  cover,    // (default) keep aspect, cover both w and h, crop the overflow by position
  contain,  // keep aspect, fit within w and h, pad to exactly w x h by position
  fill,     // ignore aspect, stretch to exactly w x h (with only w or only h the
            // aspect is kept, as the API promises for every fit; sharp would leave
            // the unspecified side at the source's length)
  inside,   // keep aspect, as large as possible with both sides <= w, h; no padding
  outside,  // keep aspect, as small as possible with both sides >= w, h; no crop
};

// sharp's gravity: which part of the image a cover crop keeps, or where a contain
// pad puts the image. Ignored by fill, inside and outside.
enum class Position { centre, north, northeast, east, southeast, south, southwest, west, northwest };

// Query-parameter parsers; std::nullopt for anything not listed. Lowercase only, as
// sharp. parse_fit: cover, contain, fill, inside, outside.
// parse_position accepts
//   sharp.gravity:  centre, center, north, northeast, east, southeast, south,
//                   southwest, west, northwest;
//   sharp.position: top, right, bottom, left, "right top", "right bottom",
//                   "left bottom", "left top";
//   and, since "right top" arrives as "right+top" / "right%20top" in a URL, the
//   two-word forms also with '-' or '_' between the words and in either order
//   ("top-right", "top_right", "top right").
std::optional<Fit> parse_fit(std::string_view text) noexcept;
std::optional<Position> parse_position(std::string_view text) noexcept;

// Canonical names (sharp's): "cover"...; "centre", "north", "northeast"... Used for
// cache keys, so every spelling parse_position accepts maps to one name.
std::string_view to_string(Fit fit) noexcept;
std::string_view to_string(Position position) noexcept;

struct Size {
  int width = 0;
  int height = 0;
  friend bool operator==(const Size&, const Size&) = default;
};

struct Rect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  friend bool operator==(const Rect&, const Rect&) = default;
};

// EXIF orientation as two operations: rotate clockwise by rotate_cw degrees (0, 90,
// 180 or 270), then, if flip_horizontal, mirror left-right. 1: none, 2: mirror,
// 3: 180, 4: 180 + mirror (= upside-down mirror), 5: 90 + mirror (= transpose),
// 6: 90, 7: 270 + mirror (= transverse), 8: 270.
struct OrientOps {
  int rotate_cw = 0;
  bool flip_horizontal = false;
  friend bool operator==(const OrientOps&, const OrientOps&) = default;
};

// Orientation outside 1..8 (0 = tag absent, or garbage) is treated as 1.
int normalize_orientation(int exif_orientation) noexcept;
OrientOps orient_ops(int exif_orientation) noexcept;
// True for 5..8: the upright image is the raw one with width and height exchanged.
bool orientation_swaps_axes(int exif_orientation) noexcept;

struct GeometryRequest {
  Size source;                     // as stored in the file (raw, before orientation)
  int orientation = 1;             // EXIF Orientation tag; 0 or out of range -> 1
  std::optional<int> width;        // `w`; nullopt = not given
  std::optional<int> height;       // `h`; nullopt = not given
  Fit fit = Fit::cover;
  Position position = Position::centre;
  bool enlarge = false;            // false = sharp's withoutEnlargement: true
  // True only for a decoder that scales by 1/2, 1/4, 1/8 with libjpeg's ceil rounding
  // (OpenCV's JPEG IMREAD_REDUCED_*). OpenCV's fallback for other formats decodes
  // in full and then resizes to floor(size / n): pass false for those.
  bool decoder_can_shrink = false;
  int max_output_dimension = 0;    // limits.max_output_dimension (> 0)
};

struct GeometryPlan {
  int orientation = 1;             // normalized 1..8
  OrientOps orient;                // how to apply it (step 2)
  bool swaps_axes = false;         // orientation 5..8
  Size oriented;                   // full-resolution source after orientation
  int shrink_on_load = 1;          // 1, 2, 4 or 8 (step 1)
  Size decoded;                    // raw size the decoder returns: ceil(source / shrink)
  Size decoded_oriented;           // `decoded` after orientation
  Size resize;                     // upright size to resize decoded_oriented to (step 3)
  Rect crop;                       // region of the resized image kept (step 4)
  Rect placement;                  // where the kept region lands on the output (step 5)
  Size output;                     // final image size

  bool needs_resize() const noexcept { return resize != decoded_oriented; }
  bool needs_crop() const noexcept { return crop != Rect{0, 0, resize.width, resize.height}; }
  bool needs_padding() const noexcept {
    return placement != Rect{0, 0, output.width, output.height};
  }
};

// Thrown by plan_geometry. An std::invalid_argument, so generic handlers treat it as
// a client error. Suggested HTTP mapping: invalid_* and *_over_limit with a
// parameter() of "w" or "h" -> 400 naming that parameter; output_over_limit (the
// request is valid but this source's aspect ratio makes an image over the limit) and
// invalid_source -> 422.
class GeometryError : public std::invalid_argument {
 public:
  enum class Reason {
    invalid_width,      // w <= 0
    invalid_height,     // h <= 0
    width_over_limit,   // w > max_output_dimension
    height_over_limit,  // h > max_output_dimension
    output_over_limit,  // a derived size (output or resize) > max_output_dimension
    invalid_source,     // source side <= 0, or max_output_dimension <= 0
  };

  GeometryError(Reason reason, const std::string& message);

  Reason reason() const noexcept { return reason_; }
  // "w", "h" or "" (no single request parameter to blame).
  std::string_view parameter() const noexcept;

 private:
  Reason reason_;
};

// The plan for one request; throws GeometryError. Pure: same input, same plan.
GeometryPlan plan_geometry(const GeometryRequest& request);

}  // namespace pixelmill::imaging
