// Unit tests of server/image_params: query parameters -> TransformOptions, the exact
// 400 details, Accept -> accepts_webp, and canonical_params.

#include <doctest/doctest.h>

#include <set>
#include <string>

#include "pixelmill/server/http_error.hpp"
#include "pixelmill/server/image_params.hpp"

namespace srv = pixelmill::server;
namespace img = pixelmill::imaging;

namespace {

img::TransformOptions parse(std::string_view query, std::string_view accept = "", unsigned max = 8192) {
  return srv::parse_transform_params(query, accept, max);
}

// The detail of the HttpError parse() throws, checking status and slug; "" if none.
std::string error_of(std::string_view query, unsigned max = 8192) {
  try {
    (void)parse(query, "", max);
  } catch (const srv::HttpError& e) {
    CHECK(e.status() == srv::http::status::bad_request);
    CHECK(e.slug() == "bad-parameter");
    CHECK_MESSAGE(e.detail().find('\n') == std::string::npos, e.detail());
    return e.detail();
  }
  FAIL_CHECK("no HttpError for " << query);
  return "";
}

}  // namespace

TEST_CASE("no parameters give the defaults") {
  for (const std::string_view query : {"", "?", "/images", "/images?", "/i/abc?&"}) {
    const auto o = parse(query);
    CHECK(!o.width);
    CHECK(!o.height);
    CHECK(o.fit == img::Fit::cover);
    CHECK(o.position == img::Position::centre);
    CHECK(o.enlarge == false);
    CHECK(o.format == img::OutputFormat::auto_);
    CHECK(o.accepts_webp == false);
    CHECK(o.quality == 80);
    CHECK(o.background == img::Rgba{255, 255, 255, 255});
    CHECK(o.orient == true);
    CHECK(!o.kernel);
    CHECK(o.max_output_dimension == 8192);
  }
  CHECK(parse("", "", 100).max_output_dimension == 100);
}

TEST_CASE("every parameter, from a target, a query and a query with '?'") {
  const std::string query =
      "w=800&h=600&fit=contain&position=right%20top&background=%23ff000080&enlarge=true&format=jpg"
      "&quality=90&orient=0&kernel=lanczos";
  for (const auto& input : {"/images/x?" + query, query, "?" + query}) {
    const auto o = parse(input);
    CHECK(o.width == 800);
    CHECK(o.height == 600);
    CHECK(o.fit == img::Fit::contain);
    CHECK(o.position == img::Position::northeast);
    CHECK(o.background == img::Rgba{255, 0, 0, 128});
    CHECK(o.enlarge == true);
    CHECK(o.format == img::OutputFormat::jpeg);
    CHECK(o.quality == 90);
    CHECK(o.orient == false);
    CHECK(o.kernel == img::Kernel::lanczos);
  }
  // '+' is a space in a query.
  CHECK(parse("position=left+bottom").position == img::Position::southwest);
  CHECK(parse("enlarge=1&orient=false").enlarge == true);
  CHECK(parse("enlarge=1&orient=false").orient == false);
  CHECK(parse("w=1&h=8192").height == 8192);
  CHECK(parse("w=100", "", 100).width == 100);
  CHECK(parse("quality=1").quality == 1);
  CHECK(parse("quality=100").quality == 100);
  CHECK(parse("format=webp").format == img::OutputFormat::webp);
  CHECK(parse("background=transparent").background == img::Rgba{0, 0, 0, 0});
  CHECK(parse("kernel=nearest").kernel == img::Kernel::nearest);
  CHECK(parse("kernel=linear").kernel == img::Kernel::linear);
  CHECK(parse("kernel=cubic").kernel == img::Kernel::cubic);
  CHECK(parse("kernel=area").kernel == img::Kernel::area);
}

TEST_CASE("bad values: the detail names the parameter, the value and what is allowed") {
  CHECK(error_of("w=abc") == R"(parameter "w": "abc" is not a positive integer (allowed: 1..8192))");
  CHECK(error_of("h=-5") == R"(parameter "h": "-5" is not a positive integer (allowed: 1..8192))");
  CHECK(error_of("w=") == R"(parameter "w": "" is not a positive integer (allowed: 1..8192))");
  CHECK(error_of("w") == R"(parameter "w": "" is not a positive integer (allowed: 1..8192))");
  CHECK(error_of("w=1.5") == R"(parameter "w": "1.5" is not a positive integer (allowed: 1..8192))");
  CHECK(error_of("w=+5") == R"(parameter "w": " 5" is not a positive integer (allowed: 1..8192))");  // '+' = space
  CHECK(error_of("w=%2B5") == R"(parameter "w": "+5" is not a positive integer (allowed: 1..8192))");
  CHECK(error_of("w=0") == R"(parameter "w": "0" is out of range (allowed: 1..8192))");
  CHECK(error_of("h=8193") == R"(parameter "h": "8193" is out of range (allowed: 1..8192))");
  CHECK(error_of("w=101", 100) == R"(parameter "w": "101" is out of range (allowed: 1..100))");
  CHECK(error_of("w=99999999999999999999") ==
        R"(parameter "w": "99999999999999999999" is out of range (allowed: 1..8192))");
  CHECK(error_of("quality=0") == R"(parameter "quality": "0" is out of range (allowed: 1..100))");
  CHECK(error_of("quality=101") == R"(parameter "quality": "101" is out of range (allowed: 1..100))");
  CHECK(error_of("quality=high") == R"(parameter "quality": "high" is not an integer (allowed: 1..100))");
  CHECK(error_of("fit=stretch") ==
        R"(parameter "fit": "stretch" is not a fit (allowed: cover, contain, fill, inside, outside))");
  CHECK(error_of("fit=COVER") ==
        R"(parameter "fit": "COVER" is not a fit (allowed: cover, contain, fill, inside, outside))");
  CHECK(error_of("position=middle") ==
        R"(parameter "position": "middle" is not a position (allowed: centre, center, north, northeast, east, )"
        R"(southeast, south, southwest, west, northwest, top, right, bottom, left, or a side pair such as )"
        R"("right top", "top-right", "left_bottom"))");
  CHECK(error_of("background=red") ==
        R"(parameter "background": "red" is not a colour (allowed: hex rgb, rrggbb or rrggbbaa with an )"
        R"(optional '#' (%23 in a URL), or white, black, transparent))");
  CHECK(error_of("enlarge=yes") == R"(parameter "enlarge": "yes" is not a boolean (allowed: true, false, 1, 0))");
  CHECK(error_of("orient=TRUE") == R"(parameter "orient": "TRUE" is not a boolean (allowed: true, false, 1, 0))");
  CHECK(error_of("format=gif") ==
        R"(parameter "format": "gif" is not an output format (allowed: jpeg, jpg, png, webp, auto))");
  CHECK(error_of("kernel=bicubic") ==
        R"(parameter "kernel": "bicubic" is not a kernel (allowed: nearest, linear, cubic, area, lanczos))");
  CHECK(error_of("kernel=Lanczos") ==
        R"(parameter "kernel": "Lanczos" is not a kernel (allowed: nearest, linear, cubic, area, lanczos))");
  CHECK(error_of("kernel=") ==
        R"(parameter "kernel": "" is not a kernel (allowed: nearest, linear, cubic, area, lanczos))");
}

TEST_CASE("unknown, repeated and malformed parameters") {
  CHECK(error_of("x=1") == R"(unknown parameter "x" (allowed: w, h, fit, position, background, enlarge, )"
                           R"(format, quality, orient, kernel))");
  CHECK(error_of("w=10&W=10") == R"(unknown parameter "W" (allowed: w, h, fit, position, background, enlarge, )"
                                 R"(format, quality, orient, kernel))");
  CHECK(error_of("kernel=area&kernel=cubic") ==
        R"(parameter "kernel" is given more than once: "area" and "cubic" (allowed: each parameter at most once))");
  CHECK(error_of("=5").starts_with(R"(unknown parameter "" )"));
  CHECK(error_of("width=100").starts_with(R"(unknown parameter "width" )"));
  CHECK(error_of("w=100&h=5&w=200") ==
        R"(parameter "w" is given more than once: "100" and "200" (allowed: each parameter at most once))");
  CHECK(error_of("fit=cover&fit=cover") ==
        R"(parameter "fit" is given more than once: "cover" and "cover" (allowed: each parameter at most once))");
  CHECK(error_of("w=%zz").starts_with(R"(query "w=%zz" is not a valid URL query ()"));
  // Decoded values are quoted with control characters escaped, so a detail stays one line.
  CHECK(error_of("fit=a%0Ab%22") ==
        R"(parameter "fit": "a\x0ab\"" is not a fit (allowed: cover, contain, fill, inside, outside))");
  // Long values are cut.
  const auto long_value = std::string(200, 'a');
  CHECK(error_of("fit=" + long_value) == "parameter \"fit\": \"" + std::string(64, 'a') +
                                             "\"... is not a fit (allowed: cover, contain, fill, inside, outside)");
}

TEST_CASE("Accept: image/webp with a non-zero q-value, never by wildcard") {
  struct Case {
    std::string_view accept;
    bool webp;
  };
  const Case cases[] = {
      {"", false},
      {"image/webp", true},
      {"IMAGE/WebP", true},
      {"image/avif,image/webp,*/*", true},  // Firefox
      {"image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", true},  // Chrome
      {"  image/png ,  image/webp ; q=0.5 ", true},
      {"image/webp;q=1", true},
      {"image/webp;q=1.000", true},
      {"image/webp;Q=0.001", true},
      {"image/webp; charset=x; q=0.9", true},
      {"image/webp;q=0", false},
      {"image/webp;q=0.0", false},
      {"image/webp ; q = 0.000", false},
      {"image/webp;q=0, image/webp", false},  // an explicit refusal wins
      {"image/webp;q=2", false},              // malformed q-values: the range is ignored
      {"image/webp;q=1.5", false},
      {"image/webp;q=0.0001", false},
      {"image/webp;q=", false},
      {"image/*", false},
      {"*/*", false},
      {"image/*;q=1, */*", false},
      {"image/png,image/jpeg", false},
      {"image/webpx", false},
      {"text/webp", false},
      {"image/webp2", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.accept);
    CHECK(srv::accepts_webp(c.accept) == c.webp);
    CHECK(parse("", c.accept).accepts_webp == c.webp);
  }
}

TEST_CASE("canonical_params: every field, stable across spellings, distinct across values") {
  CHECK(srv::canonical_params(parse("")) ==
        "w=-&h=-&fit=cover&position=centre&enlarge=0&format=auto&webp=0&quality=80&background=ffffffff"
        "&orient=1&max=8192");
  CHECK(srv::canonical_params(parse("format=png", "image/webp")) ==
        "w=-&h=-&fit=cover&position=centre&enlarge=0&format=png&quality=80&background=ffffffff&orient=1&max=8192");

  // Equal options, different spellings and orders.
  const auto a = srv::canonical_params(parse("w=0100&position=top-right&format=jpg&background=%23FFF&enlarge=true"));
  const auto b = srv::canonical_params(parse("/x?enlarge=1&background=ffffffff&format=jpeg&position=right+top&w=100"));
  CHECK(a == b);
  CHECK(a == srv::canonical_params(parse("enlarge=1&position=northeast&w=100&format=jpeg", "image/webp")));
  // A kernel only when given (so default requests keep their keys), after orient.
  CHECK(srv::canonical_params(parse("kernel=area")) ==
        "w=-&h=-&fit=cover&position=centre&enlarge=0&format=auto&webp=0&quality=80&background=ffffffff"
        "&orient=1&kernel=area&max=8192");
  // accepts_webp only matters for format=auto.
  CHECK(srv::canonical_params(parse("", "image/webp")) != srv::canonical_params(parse("")));
  CHECK(srv::canonical_params(parse("", "image/webp")).find("&webp=1&") != std::string::npos);

  // Every field changes the string.
  const std::string_view variants[] = {
      "",          "w=100",         "h=100",        "w=100&h=100",    "fit=contain", "position=north",
      "enlarge=1", "format=png",    "format=webp",  "format=jpeg",    "quality=81",  "background=000",
      "orient=0",  "background=ffffff00", "kernel=nearest", "kernel=linear", "kernel=cubic", "kernel=area",
      "kernel=lanczos"};
  std::set<std::string> seen;
  for (const auto v : variants) CHECK_MESSAGE(seen.insert(srv::canonical_params(parse(v))).second, v);
  CHECK(seen.insert(srv::canonical_params(parse("", "", 4096))).second);
  CHECK(seen.insert(srv::canonical_params(parse("", "image/webp"))).second);
  // w=100 is not h=100.
  CHECK(srv::canonical_params(parse("w=100")) != srv::canonical_params(parse("h=100")));
}
