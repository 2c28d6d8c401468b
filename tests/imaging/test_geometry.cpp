// Resize geometry: every fit, position, orientation, shrink-on-load factor, the
// no-enlargement default, the 1-pixel edges, limits and parsers, with exact numbers.
// Cases marked "sharp:" are the numbers sharp's own test suite asserts
// (test/unit/resize.js, resize-cover.js, resize-contain.js) for the same sizes.
#include <doctest/doctest.h>

#include <climits>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "pixelmill/imaging/geometry.hpp"

namespace pixelmill::imaging {
// Printable in doctest failure messages.
std::ostream& operator<<(std::ostream& os, const Size& s) { return os << s.width << "x" << s.height; }
std::ostream& operator<<(std::ostream& os, const Rect& r) {
  return os << "{" << r.x << "," << r.y << " " << r.width << "x" << r.height << "}";
}
std::ostream& operator<<(std::ostream& os, const OrientOps& o) {
  return os << "{rotate " << o.rotate_cw << (o.flip_horizontal ? ", mirror}" : "}");
}
std::ostream& operator<<(std::ostream& os, Position p) { return os << to_string(p); }
std::ostream& operator<<(std::ostream& os, Fit f) { return os << to_string(f); }
}  // namespace pixelmill::imaging

using namespace pixelmill::imaging;

namespace {

constexpr int kLimit = 16384;
constexpr Fit kAllFits[] = {Fit::cover, Fit::contain, Fit::fill, Fit::inside, Fit::outside};
constexpr Position kAllPositions[] = {Position::centre,    Position::north,     Position::northeast,
                                      Position::east,      Position::southeast, Position::south,
                                      Position::southwest, Position::west,      Position::northwest};

GeometryRequest req(Size source, std::optional<int> w, std::optional<int> h, Fit fit = Fit::cover) {
  GeometryRequest r;
  r.source = source;
  r.width = w;
  r.height = h;
  r.fit = fit;
  r.max_output_dimension = kLimit;
  return r;
}

GeometryRequest enlarged(GeometryRequest r) {
  r.enlarge = true;
  return r;
}

GeometryRequest positioned(GeometryRequest r, Position p) {
  r.position = p;
  return r;
}

GeometryRequest shrinkable(GeometryRequest r) {
  r.decoder_can_shrink = true;
  return r;
}

GeometryRequest oriented(GeometryRequest r, int orientation) {
  r.orientation = orientation;
  return r;
}

Rect whole(Size s) { return {0, 0, s.width, s.height}; }

// Output and resize sizes, and that the plan has no crop and no padding.
void check_plain(const GeometryPlan& p, Size resize) {
  CHECK(p.resize == resize);
  CHECK(p.output == resize);
  CHECK(p.crop == whole(resize));
  CHECK(p.placement == whole(resize));
  CHECK_FALSE(p.needs_crop());
  CHECK_FALSE(p.needs_padding());
}

GeometryError::Reason error_reason(const GeometryRequest& r) {
  try {
    plan_geometry(r);
  } catch (const GeometryError& e) {
    return e.reason();
  }
  FAIL("expected a GeometryError");
  return GeometryError::Reason::invalid_source;
}

}  // namespace

TEST_CASE("geometry: cover fills the box and crops the overflow, exactly w x h") {
  SUBCASE("landscape source, square box: height decides, width cropped") {
    auto p = plan_geometry(req({4000, 3000}, 400, 400));
    CHECK(p.resize == Size{533, 400});  // 4000 * 400 / 3000 = 533.3
    CHECK(p.crop == Rect{67, 0, 400, 400});  // 133 over, centred: (133 + 1) / 2
    CHECK(p.output == Size{400, 400});
    CHECK(p.placement == whole(p.output));
    CHECK(p.needs_crop());
    CHECK_FALSE(p.needs_padding());
  }
  SUBCASE("portrait source, square box: width decides, height cropped") {
    auto p = plan_geometry(req({3000, 4000}, 400, 400));
    CHECK(p.resize == Size{400, 533});
    CHECK(p.crop == Rect{0, 67, 400, 400});
    CHECK(p.output == Size{400, 400});
  }
  SUBCASE("portrait source, landscape box") {
    auto p = plan_geometry(req({3000, 4000}, 800, 200));
    CHECK(p.resize == Size{800, 1067});  // 4000 * 800 / 3000 = 1066.7
    CHECK(p.crop == Rect{0, 434, 800, 200});  // 867 over: (867 + 1) / 2
    CHECK(p.output == Size{800, 200});
  }
  SUBCASE("landscape source, portrait box") {
    auto p = plan_geometry(req({4000, 3000}, 200, 800));
    CHECK(p.resize == Size{1067, 800});
    CHECK(p.crop == Rect{434, 0, 200, 800});
    CHECK(p.output == Size{200, 800});
  }
  SUBCASE("same aspect ratio: no crop") {
    auto p = plan_geometry(req({4000, 3000}, 400, 300));
    check_plain(p, {400, 300});
  }
  SUBCASE("sharp: 2725x2225 -> 320x240 (exact crop)") {
    auto p = plan_geometry(req({2725, 2225}, 320, 240));
    CHECK(p.resize == Size{320, 261});
    CHECK(p.crop == Rect{0, 11, 320, 240});
    CHECK(p.output == Size{320, 240});
  }
  SUBCASE("cover is the default fit") {
    GeometryRequest r;
    CHECK(r.fit == Fit::cover);
    CHECK(r.position == Position::centre);
    CHECK_FALSE(r.enlarge);
  }
}

TEST_CASE("geometry: contain fits inside the box and pads to exactly w x h") {
  SUBCASE("landscape source, square box: padded top and bottom") {
    auto p = plan_geometry(req({4000, 3000}, 400, 400, Fit::contain));
    CHECK(p.resize == Size{400, 300});
    CHECK(p.crop == whole(p.resize));
    CHECK(p.output == Size{400, 400});
    CHECK(p.placement == Rect{0, 50, 400, 300});
    CHECK(p.needs_padding());
    CHECK_FALSE(p.needs_crop());
  }
  SUBCASE("portrait source, square box: padded left and right") {
    auto p = plan_geometry(req({3000, 4000}, 400, 400, Fit::contain));
    CHECK(p.resize == Size{300, 400});
    CHECK(p.output == Size{400, 400});
    CHECK(p.placement == Rect{50, 0, 300, 400});
  }
  SUBCASE("odd padding: the extra pixel goes to the bottom (offset rounds down)") {
    auto p = plan_geometry(req({4000, 3000}, 400, 401, Fit::contain));
    CHECK(p.resize == Size{400, 300});
    CHECK(p.output == Size{400, 401});
    CHECK(p.placement == Rect{0, 50, 400, 300});
  }
  SUBCASE("portrait source, landscape box") {
    auto p = plan_geometry(req({3000, 4000}, 800, 200, Fit::contain));
    CHECK(p.resize == Size{150, 200});
    CHECK(p.output == Size{800, 200});
    CHECK(p.placement == Rect{325, 0, 150, 200});
  }
  SUBCASE("same aspect ratio: no padding") {
    check_plain(plan_geometry(req({4000, 3000}, 400, 300, Fit::contain)), {400, 300});
  }
}

TEST_CASE("geometry: fill stretches to exactly w x h, ignoring aspect") {
  check_plain(plan_geometry(req({4000, 3000}, 400, 400, Fit::fill)), {400, 400});
  check_plain(plan_geometry(req({3000, 4000}, 100, 900, Fit::fill)), {100, 900});
  check_plain(plan_geometry(req({2725, 2225}, 320, 320, Fit::fill)), {320, 320});  // sharp
}

TEST_CASE("geometry: inside is as large as possible within the box, never padded") {
  check_plain(plan_geometry(req({4000, 3000}, 400, 400, Fit::inside)), {400, 300});
  check_plain(plan_geometry(req({3000, 4000}, 400, 400, Fit::inside)), {300, 400});
  check_plain(plan_geometry(req({4000, 3000}, 200, 800, Fit::inside)), {200, 150});
  check_plain(plan_geometry(req({2725, 2225}, 320, 320, Fit::inside)), {320, 261});  // sharp
  check_plain(plan_geometry(req({2464, 3248}, 320, 320, Fit::inside)), {243, 320});  // sharp
}

TEST_CASE("geometry: outside is as small as possible covering the box, never cropped") {
  check_plain(plan_geometry(req({4000, 3000}, 400, 400, Fit::outside)), {533, 400});
  check_plain(plan_geometry(req({3000, 4000}, 400, 400, Fit::outside)), {400, 533});
  check_plain(plan_geometry(req({4000, 3000}, 200, 800, Fit::outside)), {1067, 800});
  check_plain(plan_geometry(req({2725, 2225}, 320, 320, Fit::outside)), {392, 320});  // sharp
  check_plain(plan_geometry(req({2464, 3248}, 320, 320, Fit::outside)), {320, 422});  // sharp
}

TEST_CASE("geometry: only w or only h keeps the aspect ratio, whatever the fit") {
  for (Fit fit : kAllFits) {
    CAPTURE(fit);
    // sharp: 2725x2225 resize(320) -> 320x261, resize(null, 320) -> 392x320.
    check_plain(plan_geometry(req({2725, 2225}, 320, std::nullopt, fit)), {320, 261});
    check_plain(plan_geometry(req({2725, 2225}, std::nullopt, 320, fit)), {392, 320});
    check_plain(plan_geometry(req({3000, 4000}, 300, std::nullopt, fit)), {300, 400});
    check_plain(plan_geometry(req({3000, 4000}, std::nullopt, 300, fit)), {225, 300});
  }
}

TEST_CASE("geometry: neither w nor h gives the original (upright) size") {
  for (Fit fit : kAllFits) {
    CAPTURE(fit);
    auto p = plan_geometry(req({4000, 3000}, std::nullopt, std::nullopt, fit));
    check_plain(p, {4000, 3000});
    CHECK_FALSE(p.needs_resize());
    auto q = plan_geometry(oriented(req({4000, 3000}, std::nullopt, std::nullopt, fit), 6));
    check_plain(q, {3000, 4000});
    CHECK_FALSE(q.needs_resize());
  }
}

TEST_CASE("geometry: rounding is to nearest, halves up (libvips), derived side never 0") {
  // sharp: 1000x667 resize({width: 500}) -> 500x334 (333.5 rounds up).
  check_plain(plan_geometry(req({1000, 667}, 500, std::nullopt)), {500, 334});
  // sharp: 600x399 resize(200) -> 200x133.
  check_plain(plan_geometry(req({600, 399}, 200, std::nullopt)), {200, 133});
  check_plain(plan_geometry(req({1000, 665}, 500, std::nullopt)), {500, 333});  // 332.5 -> 333
  check_plain(plan_geometry(req({1000, 669}, 500, std::nullopt)), {500, 335});  // 334.5 -> 335
  check_plain(plan_geometry(req({3, 2}, 2, std::nullopt)), {2, 1});            // 1.33 -> 1
  check_plain(plan_geometry(req({4, 3}, 2, std::nullopt)), {2, 2});            // 1.5 -> 2
}

TEST_CASE("geometry: 1-pixel edges") {
  SUBCASE("4000x1, w=100: height stays 1, never 0") {
    check_plain(plan_geometry(req({4000, 1}, 100, std::nullopt)), {100, 1});
  }
  SUBCASE("1x4000, h=100: width stays 1, never 0") {
    check_plain(plan_geometry(req({1, 4000}, std::nullopt, 100)), {1, 100});
  }
  SUBCASE("1x4000, w=100: not enlarged by default") {
    check_plain(plan_geometry(req({1, 4000}, 100, std::nullopt)), {1, 4000});
  }
  SUBCASE("1x4000, w=100, enlarge: 100x400000 is over the output limit") {
    CHECK(error_reason(enlarged(req({1, 4000}, 100, std::nullopt))) ==
          GeometryError::Reason::output_over_limit);
    auto r = enlarged(req({1, 4000}, 100, std::nullopt));
    r.max_output_dimension = 400000;
    check_plain(plan_geometry(r), {100, 400000});
  }
  SUBCASE("4000x1, h=10: not enlarged by default; enlarged it is 40000x10") {
    check_plain(plan_geometry(req({4000, 1}, std::nullopt, 10)), {4000, 1});
    CHECK(error_reason(enlarged(req({4000, 1}, std::nullopt, 10))) ==
          GeometryError::Reason::output_over_limit);
    auto r = enlarged(req({4000, 1}, std::nullopt, 10));
    r.max_output_dimension = 40000;
    check_plain(plan_geometry(r), {40000, 10});
  }
  SUBCASE("1x1 -> cover 1x1: nothing to do, no shrink-on-load") {
    auto p = plan_geometry(shrinkable(req({1, 1}, 1, 1)));
    check_plain(p, {1, 1});
    CHECK(p.shrink_on_load == 1);
    CHECK(p.decoded == Size{1, 1});
    CHECK_FALSE(p.needs_resize());
  }
  SUBCASE("sharp: 10x2 -> w=2 gives 2x1; 2x10 -> h=2 gives 1x2") {
    check_plain(plan_geometry(req({10, 2}, 2, std::nullopt)), {2, 1});
    check_plain(plan_geometry(req({2, 10}, std::nullopt, 2)), {1, 2});
  }
  SUBCASE("sharp: 200x1 and 1x200 contained in 50x50 are 50x50 with a 1-pixel image") {
    auto p = plan_geometry(req({200, 1}, 50, 50, Fit::contain));
    CHECK(p.resize == Size{50, 1});
    CHECK(p.output == Size{50, 50});
    CHECK(p.placement == Rect{0, 24, 50, 1});
    auto q = plan_geometry(req({1, 200}, 50, 50, Fit::contain));
    CHECK(q.resize == Size{1, 50});
    CHECK(q.output == Size{50, 50});
    CHECK(q.placement == Rect{24, 0, 1, 50});
  }
  SUBCASE("4000x1 -> cover 100x100: not enlarged, cropped to 100x1") {
    auto p = plan_geometry(req({4000, 1}, 100, 100));
    CHECK(p.resize == Size{4000, 1});
    CHECK(p.crop == Rect{1950, 0, 100, 1});
    CHECK(p.output == Size{100, 1});
  }
  SUBCASE("4000x1 -> cover 100x100 enlarged: the 400000x100 intermediate is refused") {
    CHECK(error_reason(enlarged(req({4000, 1}, 100, 100))) == GeometryError::Reason::output_over_limit);
  }
  SUBCASE("1x4000 inside/outside/fill boxes") {
    check_plain(plan_geometry(req({1, 4000}, 100, 100, Fit::inside)), {1, 100});
    check_plain(plan_geometry(req({1, 4000}, 100, 100, Fit::outside)), {1, 4000});  // would be 100x400000
    check_plain(plan_geometry(req({1, 4000}, 100, 100, Fit::fill)), {1, 100});
  }
}

TEST_CASE("geometry: no enlargement by default, for every fit; enlarge=true enlarges") {
  const Size src{200, 100};
  SUBCASE("cover, box larger on both sides: the image as is, neither cropped nor padded") {
    check_plain(plan_geometry(req(src, 400, 400)), {200, 100});
    auto p = plan_geometry(enlarged(req(src, 400, 400)));
    CHECK(p.resize == Size{800, 400});
    CHECK(p.crop == Rect{200, 0, 400, 400});
    CHECK(p.output == Size{400, 400});
  }
  SUBCASE("cover, box larger on one side: only the overflowing side is cropped") {
    auto p = plan_geometry(req(src, 300, 50));
    CHECK(p.resize == Size{200, 100});
    CHECK(p.crop == Rect{0, 25, 200, 50});  // 50 over: (50 + 1) / 2
    CHECK(p.output == Size{200, 50});
    auto q = plan_geometry(enlarged(req(src, 300, 50)));
    CHECK(q.resize == Size{300, 150});
    CHECK(q.crop == Rect{0, 50, 300, 50});
    CHECK(q.output == Size{300, 50});
  }
  SUBCASE("sharp: 2725x2225 cover 3000x1000 -> 2725x1000, 1500x2226 -> 1500x2225") {
    auto p = plan_geometry(req({2725, 2225}, 3000, 1000));
    CHECK(p.resize == Size{2725, 2225});
    CHECK(p.crop == Rect{0, 613, 2725, 1000});
    CHECK(p.output == Size{2725, 1000});
    auto q = plan_geometry(req({2725, 2225}, 1500, 2226));
    CHECK(q.resize == Size{2725, 2225});
    CHECK(q.crop == Rect{613, 0, 1500, 2225});
    CHECK(q.output == Size{1500, 2225});
  }
  SUBCASE("contain: the image is not enlarged but the canvas is still w x h") {
    auto p = plan_geometry(req(src, 400, 400, Fit::contain));
    CHECK(p.resize == Size{200, 100});
    CHECK(p.output == Size{400, 400});
    CHECK(p.placement == Rect{100, 150, 200, 100});
    auto q = plan_geometry(enlarged(req(src, 400, 400, Fit::contain)));
    CHECK(q.resize == Size{400, 200});
    CHECK(q.output == Size{400, 400});
    CHECK(q.placement == Rect{0, 100, 400, 200});
  }
  SUBCASE("contain: box larger on one side only shrinks normally") {
    auto p = plan_geometry(req(src, 100, 400, Fit::contain));
    CHECK(p.resize == Size{100, 50});
    CHECK(p.output == Size{100, 400});
    CHECK(p.placement == Rect{0, 175, 100, 50});
  }
  SUBCASE("fill: each side clamped on its own") {
    check_plain(plan_geometry(req(src, 400, 50, Fit::fill)), {200, 50});
    check_plain(plan_geometry(enlarged(req(src, 400, 50, Fit::fill))), {400, 50});
    check_plain(plan_geometry(req(src, 400, 400, Fit::fill)), {200, 100});
    check_plain(plan_geometry(enlarged(req(src, 400, 400, Fit::fill))), {400, 400});
    // sharp: 2725x2225 fill 3000x320 without enlargement -> 2725x320.
    check_plain(plan_geometry(req({2725, 2225}, 3000, 320, Fit::fill)), {2725, 320});
  }
  SUBCASE("inside") {
    check_plain(plan_geometry(req(src, 400, 400, Fit::inside)), {200, 100});
    check_plain(plan_geometry(enlarged(req(src, 400, 400, Fit::inside))), {400, 200});
  }
  SUBCASE("outside") {
    check_plain(plan_geometry(req(src, 400, 400, Fit::outside)), {200, 100});
    check_plain(plan_geometry(enlarged(req(src, 400, 400, Fit::outside))), {800, 400});
    // Box smaller on one side: the covering scale is still an enlargement.
    check_plain(plan_geometry(req(src, 100, 400, Fit::outside)), {200, 100});
    check_plain(plan_geometry(enlarged(req(src, 100, 400, Fit::outside))), {800, 400});
  }
  SUBCASE("only w / only h, every fit") {
    for (Fit fit : kAllFits) {
      CAPTURE(fit);
      // sharp: 2725x2225 resize({width: 2800, withoutEnlargement}) -> 2725x2225,
      // and enlarged -> 2800x2286.
      check_plain(plan_geometry(req({2725, 2225}, 2800, std::nullopt, fit)), {2725, 2225});
      check_plain(plan_geometry(enlarged(req({2725, 2225}, 2800, std::nullopt, fit))), {2800, 2286});
      check_plain(plan_geometry(req({2725, 2225}, std::nullopt, 2300, fit)), {2725, 2225});
      check_plain(plan_geometry(enlarged(req({2725, 2225}, std::nullopt, 2300, fit))), {2817, 2300});
      // Exactly the source width: no resize at all.
      auto p = plan_geometry(req(src, 200, std::nullopt, fit));
      check_plain(p, {200, 100});
      CHECK_FALSE(p.needs_resize());
    }
  }
  SUBCASE("enlarge changes nothing when shrinking") {
    for (Fit fit : kAllFits) {
      CAPTURE(fit);
      auto a = plan_geometry(req({4000, 3000}, 400, 400, fit));
      auto b = plan_geometry(enlarged(req({4000, 3000}, 400, 400, fit)));
      CHECK(a.resize == b.resize);
      CHECK(a.crop == b.crop);
      CHECK(a.placement == b.placement);
      CHECK(a.output == b.output);
    }
  }
}

TEST_CASE("geometry: cover crop offsets for every position") {
  struct Case {
    Position position;
    int landscape_x;  // 400x300 -> 100x100: resized 133x100, 33 columns over
    int portrait_y;   // 300x400 -> 100x100: resized 100x133, 33 rows over
  };
  // Centring rounds up: (33 + 1) / 2 = 17 (sharp's CalculateCrop).
  const Case cases[] = {
      {Position::centre, 17, 17},   {Position::north, 17, 0},     {Position::northeast, 33, 0},
      {Position::east, 33, 17},     {Position::southeast, 33, 33}, {Position::south, 17, 33},
      {Position::southwest, 0, 33}, {Position::west, 0, 17},      {Position::northwest, 0, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.position);
    auto l = plan_geometry(positioned(req({400, 300}, 100, 100), c.position));
    CHECK(l.resize == Size{133, 100});
    CHECK(l.crop == Rect{c.landscape_x, 0, 100, 100});
    CHECK(l.output == Size{100, 100});
    auto p = plan_geometry(positioned(req({300, 400}, 100, 100), c.position));
    CHECK(p.resize == Size{100, 133});
    CHECK(p.crop == Rect{0, c.portrait_y, 100, 100});
    CHECK(p.output == Size{100, 100});
  }
}

TEST_CASE("geometry: contain pad offsets for every position") {
  struct Case {
    Position position;
    int x, y;        // 300x200 on 400x400: 100 columns, 200 rows of padding
    int odd_x, odd_y;  // 301x201 on 400x400: 99 columns, 199 rows of padding
  };
  // Centring rounds down: 99 / 2 = 49 (sharp's CalculateEmbedPosition).
  const Case cases[] = {
      {Position::centre, 50, 100, 49, 99},  {Position::north, 50, 0, 49, 0},
      {Position::northeast, 100, 0, 99, 0}, {Position::east, 100, 100, 99, 99},
      {Position::southeast, 100, 200, 99, 199}, {Position::south, 50, 200, 49, 199},
      {Position::southwest, 0, 200, 0, 199}, {Position::west, 0, 100, 0, 99},
      {Position::northwest, 0, 0, 0, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.position);
    auto p = plan_geometry(positioned(req({300, 200}, 400, 400, Fit::contain), c.position));
    CHECK(p.resize == Size{300, 200});
    CHECK(p.output == Size{400, 400});
    CHECK(p.placement == Rect{c.x, c.y, 300, 200});
    auto q = plan_geometry(positioned(req({301, 201}, 400, 400, Fit::contain), c.position));
    CHECK(q.placement == Rect{c.odd_x, c.odd_y, 301, 201});
    // Shrinking too: 4000x3000 into 400x400 is 400x300 with 100 rows of padding.
    auto s = plan_geometry(positioned(req({4000, 3000}, 400, 400, Fit::contain), c.position));
    const int expected_y = c.y / 2;  // 0, 50 or 100 for 0, 100, 200 above
    CHECK(s.placement == Rect{0, expected_y, 400, 300});
  }
}

TEST_CASE("geometry: position is ignored by fill, inside and outside") {
  for (Fit fit : {Fit::fill, Fit::inside, Fit::outside}) {
    for (Position position : kAllPositions) {
      CAPTURE(fit);
      CAPTURE(position);
      auto p = plan_geometry(positioned(req({4000, 3000}, 400, 400, fit), position));
      CHECK_FALSE(p.needs_crop());
      CHECK_FALSE(p.needs_padding());
    }
  }
}

TEST_CASE("geometry: EXIF orientation") {
  SUBCASE("operations per orientation; 0 and out of range mean 1") {
    CHECK(orient_ops(1) == OrientOps{0, false});
    CHECK(orient_ops(2) == OrientOps{0, true});
    CHECK(orient_ops(3) == OrientOps{180, false});
    CHECK(orient_ops(4) == OrientOps{180, true});
    CHECK(orient_ops(5) == OrientOps{90, true});
    CHECK(orient_ops(6) == OrientOps{90, false});
    CHECK(orient_ops(7) == OrientOps{270, true});
    CHECK(orient_ops(8) == OrientOps{270, false});
    for (int bad : {0, -1, 9, 100, INT_MIN, INT_MAX}) {
      CAPTURE(bad);
      CHECK(normalize_orientation(bad) == 1);
      CHECK(orient_ops(bad) == OrientOps{0, false});
      CHECK_FALSE(orientation_swaps_axes(bad));
    }
  }

  SUBCASE("the operations put the raw corners where the EXIF definition says") {
    // Apply OrientOps to a raw pixel position in a W x H image.
    auto apply = [](OrientOps ops, int x, int y, int w, int h) {
      for (int turns = ops.rotate_cw / 90; turns > 0; --turns) {
        const int nx = h - 1 - y;  // 90 degrees clockwise
        y = x;
        x = nx;
        std::swap(w, h);
      }
      if (ops.flip_horizontal) x = w - 1 - x;
      return std::pair{x, y};
    };
    const int W = 40, H = 30;
    // Where raw (0, 0) and raw (W-1, 0) end up in the upright image, from the EXIF
    // spec's "row 0 is the visual top/bottom/left/right, column 0 is ...".
    struct Case {
      int orientation;
      std::pair<int, int> top_left, top_right;
    };
    const Case cases[] = {
        {1, {0, 0}, {W - 1, 0}},         {2, {W - 1, 0}, {0, 0}},
        {3, {W - 1, H - 1}, {0, H - 1}}, {4, {0, H - 1}, {W - 1, H - 1}},
        {5, {0, 0}, {0, W - 1}},         {6, {H - 1, 0}, {H - 1, W - 1}},
        {7, {H - 1, W - 1}, {H - 1, 0}}, {8, {0, W - 1}, {0, 0}},
    };
    for (const auto& c : cases) {
      CAPTURE(c.orientation);
      const OrientOps ops = orient_ops(c.orientation);
      CHECK(apply(ops, 0, 0, W, H) == c.top_left);
      CHECK(apply(ops, W - 1, 0, W, H) == c.top_right);
    }
  }

  SUBCASE("geometry is computed on the upright image; 5..8 swap width and height") {
    for (int o = 1; o <= 8; ++o) {
      CAPTURE(o);
      auto p = plan_geometry(oriented(req({4000, 3000}, 300, std::nullopt), o));
      CHECK(p.orientation == o);
      CHECK(p.orient == orient_ops(o));
      const bool swaps = o >= 5;
      CHECK(p.swaps_axes == swaps);
      CHECK(orientation_swaps_axes(o) == swaps);
      CHECK(p.oriented == (swaps ? Size{3000, 4000} : Size{4000, 3000}));
      check_plain(p, swaps ? Size{300, 400} : Size{300, 225});
      // No shrink-on-load: the decoder returns the raw size.
      CHECK(p.decoded == Size{4000, 3000});
      CHECK(p.decoded_oriented == p.oriented);
    }
    auto p = plan_geometry(oriented(req({4000, 3000}, 300, std::nullopt), 0));
    CHECK(p.orientation == 1);
    check_plain(p, {300, 225});
  }

  SUBCASE("cover and contain boxes apply to the upright image") {
    auto p = plan_geometry(oriented(req({4000, 3000}, 400, 200), 6));  // upright 3000x4000
    CHECK(p.resize == Size{400, 533});
    CHECK(p.crop == Rect{0, 167, 400, 200});
    CHECK(p.output == Size{400, 200});
    auto q = plan_geometry(oriented(req({4000, 3000}, 400, 400, Fit::contain), 8));
    CHECK(q.resize == Size{300, 400});
    CHECK(q.output == Size{400, 400});
    CHECK(q.placement == Rect{50, 0, 300, 400});
  }

  SUBCASE("shrink-on-load works on raw sizes, compared upright") {
    auto p = plan_geometry(shrinkable(oriented(req({4000, 3000}, 300, std::nullopt), 6)));
    CHECK(p.resize == Size{300, 400});
    CHECK(p.shrink_on_load == 8);
    CHECK(p.decoded == Size{500, 375});           // raw, as the decoder returns it
    CHECK(p.decoded_oriented == Size{375, 500});  // upright, >= 300x400
    CHECK(p.needs_resize());
  }
}

TEST_CASE("geometry: shrink-on-load picks the largest factor still covering the resize") {
  SUBCASE("4000x3000: w=400 -> 1/8 (500 >= 400), w=600 -> 1/4, w=2000 -> 1/2, w=2001 -> 1") {
    auto p = plan_geometry(shrinkable(req({4000, 3000}, 400, std::nullopt)));
    CHECK(p.resize == Size{400, 300});
    CHECK(p.shrink_on_load == 8);
    CHECK(p.decoded == Size{500, 375});
    CHECK(p.decoded_oriented == Size{500, 375});
    CHECK(p.needs_resize());

    auto q = plan_geometry(shrinkable(req({4000, 3000}, 600, std::nullopt)));
    CHECK(q.resize == Size{600, 450});
    CHECK(q.shrink_on_load == 4);
    CHECK(q.decoded == Size{1000, 750});

    auto r = plan_geometry(shrinkable(req({4000, 3000}, 2000, std::nullopt)));
    CHECK(r.shrink_on_load == 2);
    CHECK(r.decoded == Size{2000, 1500});
    CHECK_FALSE(r.needs_resize());  // the decoder already produced the exact size

    auto s = plan_geometry(shrinkable(req({4000, 3000}, 2001, std::nullopt)));
    CHECK(s.shrink_on_load == 1);
    CHECK(s.decoded == Size{4000, 3000});
  }
  SUBCASE("500x... exactly at 1/8 needs no resize") {
    auto p = plan_geometry(shrinkable(req({4000, 3000}, 500, std::nullopt)));
    CHECK(p.shrink_on_load == 8);
    CHECK(p.resize == Size{500, 375});
    CHECK_FALSE(p.needs_resize());
  }
  SUBCASE("libjpeg rounds scaled sizes up: 3837 rows at 1/8 are 480 rows") {
    // 5000x3837, w=625: 3837 * 625 / 5000 = 479.6 -> 480 rows. ceil(3837 / 8) = 480
    // covers it (floor would give 479 and wrongly force 1/4).
    auto p = plan_geometry(shrinkable(req({5000, 3837}, 625, std::nullopt)));
    CHECK(p.resize == Size{625, 480});
    CHECK(p.shrink_on_load == 8);
    CHECK(p.decoded == Size{625, 480});
    CHECK_FALSE(p.needs_resize());
    // w=626: 626 columns > ceil(5000 / 8) = 625, so 1/4: 1250 x ceil(959.25) = 960.
    auto q = plan_geometry(shrinkable(req({5000, 3837}, 626, std::nullopt)));
    CHECK(q.resize == Size{626, 480});
    CHECK(q.shrink_on_load == 4);
    CHECK(q.decoded == Size{1250, 960});
    // Same rows in the other direction, and odd columns: 3837x5001 -> h=626.
    auto r = plan_geometry(shrinkable(req({3837, 5001}, std::nullopt, 626)));
    CHECK(r.resize == Size{480, 626});  // 3837 * 626 / 5001 = 480.3
    CHECK(r.shrink_on_load == 8);
    CHECK(r.decoded == Size{480, 626});  // ceil(479.6), ceil(625.1)
  }
  SUBCASE("cover compares against the resize before cropping") {
    // 4000x3000 -> 400x400 resizes to 533x400 first: 1/8 (500 columns) is too small.
    auto p = plan_geometry(shrinkable(req({4000, 3000}, 400, 400)));
    CHECK(p.resize == Size{533, 400});
    CHECK(p.shrink_on_load == 4);
    CHECK(p.decoded == Size{1000, 750});
    CHECK(p.output == Size{400, 400});
  }
  SUBCASE("contain, fill, inside, outside") {
    CHECK(plan_geometry(shrinkable(req({4000, 3000}, 400, 400, Fit::contain))).shrink_on_load == 8);
    CHECK(plan_geometry(shrinkable(req({4000, 3000}, 400, 400, Fit::inside))).shrink_on_load == 8);
    CHECK(plan_geometry(shrinkable(req({4000, 3000}, 400, 400, Fit::outside))).shrink_on_load == 4);
    // fill 400x400: 375 rows at 1/8 < 400, so 1/4.
    CHECK(plan_geometry(shrinkable(req({4000, 3000}, 400, 400, Fit::fill))).shrink_on_load == 4);
    CHECK(plan_geometry(shrinkable(req({4000, 3000}, 500, 300, Fit::fill))).shrink_on_load == 8);
  }
  SUBCASE("decoder without shrink support: always 1, decoded = source") {
    for (Fit fit : kAllFits) {
      CAPTURE(fit);
      auto p = plan_geometry(req({4000, 3000}, 100, 100, fit));
      CHECK(p.shrink_on_load == 1);
      CHECK(p.decoded == Size{4000, 3000});
      CHECK(p.decoded_oriented == Size{4000, 3000});
    }
  }
  SUBCASE("no resize or an enlargement: 1") {
    CHECK(plan_geometry(shrinkable(req({4000, 3000}, std::nullopt, std::nullopt))).shrink_on_load == 1);
    CHECK(plan_geometry(shrinkable(enlarged(req({400, 300}, 800, std::nullopt)))).shrink_on_load == 1);
    CHECK(plan_geometry(shrinkable(req({400, 300}, 800, std::nullopt))).shrink_on_load == 1);
  }
  SUBCASE("tiny sides: no factor beyond the shorter raw side") {
    // 100x3 -> w=8 is 8x1; 1/4 and 1/8 exceed the 3-pixel side, 1/2 gives 50x2.
    auto p = plan_geometry(shrinkable(req({100, 3}, 8, std::nullopt)));
    CHECK(p.resize == Size{8, 1});
    CHECK(p.shrink_on_load == 2);
    CHECK(p.decoded == Size{50, 2});
  }
  SUBCASE("the output never depends on decoder support") {
    for (Fit fit : kAllFits) {
      for (int w : {1, 7, 333, 400, 625, 999}) {
        CAPTURE(fit);
        CAPTURE(w);
        auto a = plan_geometry(req({5000, 3837}, w, 300, fit));
        auto b = plan_geometry(shrinkable(req({5000, 3837}, w, 300, fit)));
        CHECK(a.resize == b.resize);
        CHECK(a.crop == b.crop);
        CHECK(a.placement == b.placement);
        CHECK(a.output == b.output);
        CHECK(b.decoded_oriented.width >= b.resize.width);
        CHECK(b.decoded_oriented.height >= b.resize.height);
      }
    }
  }
}

TEST_CASE("geometry: invalid w/h and the output limit are errors, never clamped") {
  using Reason = GeometryError::Reason;
  SUBCASE("w or h <= 0") {
    CHECK(error_reason(req({4000, 3000}, 0, std::nullopt)) == Reason::invalid_width);
    CHECK(error_reason(req({4000, 3000}, -5, 100)) == Reason::invalid_width);
    CHECK(error_reason(req({4000, 3000}, std::nullopt, 0)) == Reason::invalid_height);
    CHECK(error_reason(req({4000, 3000}, 100, INT_MIN)) == Reason::invalid_height);
  }
  SUBCASE("w or h over max_output_dimension, even where no enlargement would clamp it") {
    CHECK(error_reason(req({4000, 3000}, kLimit + 1, std::nullopt)) == Reason::width_over_limit);
    CHECK(error_reason(req({4000, 3000}, 100, kLimit + 1)) == Reason::height_over_limit);
    CHECK(error_reason(req({4000, 3000}, INT_MAX, INT_MAX)) == Reason::width_over_limit);
    // Exactly at the limit is fine (and not enlarged).
    check_plain(plan_geometry(req({4000, 3000}, kLimit, std::nullopt)), {4000, 3000});
    check_plain(plan_geometry(enlarged(req({4000, 3000}, kLimit, std::nullopt))), {kLimit, 12288});
  }
  SUBCASE("the error is an std::invalid_argument naming the parameter and the limit") {
    try {
      plan_geometry(req({4000, 3000}, 20000, std::nullopt));
      FAIL("expected a GeometryError");
    } catch (const std::invalid_argument& e) {
      const std::string message = e.what();
      CHECK(message.find("w=20000") != std::string::npos);
      CHECK(message.find("16384") != std::string::npos);
      const auto* ge = dynamic_cast<const GeometryError*>(&e);
      REQUIRE(ge != nullptr);
      CHECK(ge->parameter() == "w");
    }
    try {
      plan_geometry(req({4000, 3000}, 100, -1));
      FAIL("expected a GeometryError");
    } catch (const GeometryError& e) {
      CHECK(e.parameter() == "h");
      CHECK(std::string(e.what()).find("h must be a positive integer") != std::string::npos);
    }
  }
  SUBCASE("derived sizes over the limit") {
    try {
      plan_geometry(enlarged(req({1, 4000}, 100, std::nullopt)));
      FAIL("expected a GeometryError");
    } catch (const GeometryError& e) {
      CHECK(e.reason() == Reason::output_over_limit);
      CHECK(e.parameter() == "");
      CHECK(std::string(e.what()).find("100x400000") != std::string::npos);
    }
    // No w/h on a source larger than the limit: the output would be over it.
    CHECK(error_reason(req({20000, 100}, std::nullopt, std::nullopt)) == Reason::output_over_limit);
    // ... while any real downscale of it is fine.
    check_plain(plan_geometry(req({20000, 100}, 1000, std::nullopt)), {1000, 5});
  }
  SUBCASE("no integer overflow at the extremes") {
    auto r = enlarged(req({1, 2}, INT_MAX, std::nullopt));
    r.max_output_dimension = INT_MAX;
    CHECK(error_reason(r) == Reason::output_over_limit);  // height would be 2 * INT_MAX
    auto s = enlarged(req({INT_MAX, INT_MAX}, INT_MAX, INT_MAX, Fit::outside));
    s.max_output_dimension = INT_MAX;
    check_plain(plan_geometry(s), {INT_MAX, INT_MAX});
    auto t = req({INT_MAX, 3}, 2, std::nullopt);
    check_plain(plan_geometry(t), {2, 1});
  }
  SUBCASE("empty source or a non-positive limit") {
    CHECK(error_reason(req({0, 100}, 10, std::nullopt)) == Reason::invalid_source);
    CHECK(error_reason(req({100, -1}, 10, std::nullopt)) == Reason::invalid_source);
    auto r = req({100, 100}, 10, std::nullopt);
    r.max_output_dimension = 0;
    CHECK(error_reason(r) == Reason::invalid_source);
  }
}

TEST_CASE("geometry: parse_fit") {
  for (Fit fit : kAllFits) {
    CHECK(parse_fit(to_string(fit)) == fit);
  }
  CHECK(to_string(Fit::cover) == "cover");
  CHECK(to_string(Fit::contain) == "contain");
  CHECK(to_string(Fit::fill) == "fill");
  CHECK(to_string(Fit::inside) == "inside");
  CHECK(to_string(Fit::outside) == "outside");
  for (const char* bad : {"", "Cover", "COVER", " cover", "cover ", "crop", "scale-down", "none", "max"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_fit(bad).has_value());
  }
}

TEST_CASE("geometry: parse_position") {
  const std::pair<const char*, Position> good[] = {
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
      {"right top", Position::northeast},
      {"right bottom", Position::southeast},
      {"left bottom", Position::southwest},
      {"left top", Position::northwest},
      {"top right", Position::northeast},
      {"bottom right", Position::southeast},
      {"bottom left", Position::southwest},
      {"top left", Position::northwest},
      {"right-top", Position::northeast},
      {"top-right", Position::northeast},
      {"left_bottom", Position::southwest},
      {"bottom_left", Position::southwest},
  };
  for (const auto& [text, position] : good) {
    CAPTURE(text);
    CHECK(parse_position(text) == position);
  }
  for (const char* bad : {"", "Centre", "middle", "north east", "north-east", "right  top", "right top ",
                          " right top", "top bottom", "right left", "top-top", "right-top-left", "attention",
                          "entropy", "0", "-", "right-", "-top"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_position(bad).has_value());
  }
  // Canonical names round-trip.
  for (Position p : kAllPositions) {
    CHECK(parse_position(to_string(p)) == p);
  }
  CHECK(to_string(Position::centre) == "centre");
  CHECK(to_string(Position::northeast) == "northeast");
}
