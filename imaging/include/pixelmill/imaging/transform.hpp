#pragma once
// transform: one uploaded image in, one resized/re-encoded image out. The whole
// pipeline, in this order (see geometry.hpp for the plan it executes):
//
//   probe -> check_limits -> plan_geometry      (Stage::probe; no pixel allocated)
//   decode, JPEG shrink-on-load                 (Stage::decode)
//   -> normalise to 8-bit BGR or BGRA
//   flatten alpha (JPEG output) -> resize -> orient -> crop -> pad   (Stage::resize)
//   encode, no metadata                         (Stage::encode)
//
// Decode always passes IMREAD_IGNORE_ORIENTATION (or IMREAD_UNCHANGED, for which
// OpenCV orients no format but TIFF; a TIFF is decoded from a copy tagged upright): the
// EXIF orientation from probe() is applied here, exactly once, through geometry's
// OrientOps. Resizing happens before orienting (the two commute; fewer pixels to
// rotate).
//
// A JPEG -> JPEG transform without padding, from a Y'CbCr JPEG, runs the same plan on
// the JPEG's own Y, Cb, Cr planes instead (TurboJPEG, DCT-scaled, no colour conversion
// either way; output 4:2:0 baseline like OpenCV's); it falls back to the BGR path
// above when libjpeg only warns about the data, so what is accepted does not change.
//
// Pure and thread-safe: no global state, no threads of its own. OpenCV's parallel_for_
// inside resize/cvtColor is routed to the CPU pool by the runtime's OpenCV backend.
#include "pixelmill/imaging/geometry.hpp"
#include "pixelmill/imaging/image_error.hpp"
#include "pixelmill/imaging/kernel.hpp"
#include "pixelmill/imaging/probe.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace pixelmill::imaging {

// `auto_`: WebP when the client accepts it, else PNG for a source with alpha, else JPEG.
enum class OutputFormat { jpeg, png, webp, auto_ };

// "jpeg" | "jpg" | "png" | "webp" | "auto" (lowercase only, like the other parsers);
// std::nullopt otherwise.
[[nodiscard]] std::optional<OutputFormat> parse_output_format(std::string_view text) noexcept;
// Canonical names: "jpeg", "png", "webp", "auto" (for cache keys).
[[nodiscard]] std::string_view to_string(OutputFormat format) noexcept;
// "image/jpeg", "image/png", "image/webp"; "" for auto_ (never an actual output).
[[nodiscard]] std::string_view mime_type(OutputFormat format) noexcept;

struct Rgba {
  std::uint8_t r = 255, g = 255, b = 255, a = 255;
  friend bool operator==(const Rgba&, const Rgba&) = default;
};

// "rgb", "rrggbb", "rrggbbaa" in hex digits (either case), optionally after one '#'
// (a URL carries it as %23); or the names "white", "black", "transparent" (= 0,0,0,0).
// std::nullopt for anything else.
[[nodiscard]] std::optional<Rgba> parse_colour(std::string_view text) noexcept;

struct TransformOptions {
  std::optional<int> width, height;
  Fit fit = Fit::cover;
  Position position = Position::centre;
  bool enlarge = false;
  OutputFormat format = OutputFormat::auto_;
  bool accepts_webp = false;      // from the client's Accept header, used by auto_
  int quality = 80;               // 1..100 (clamped), JPEG and WebP
  Rgba background{};              // contain padding; flattening alpha for JPEG
  bool orient = true;             // apply EXIF orientation
  std::optional<Kernel> kernel;   // none: INTER_AREA to shrink, INTER_CUBIC to enlarge
  int max_output_dimension = 8192;
};

enum class Stage { probe, decode, resize, encode };
// "probe", "decode", "resize", "encode" (metric label values).
[[nodiscard]] std::string_view to_string(Stage stage) noexcept;
using StageObserver = std::function<void(Stage, std::chrono::nanoseconds)>;

struct Transformed {
  std::vector<std::uint8_t> bytes;  // the encoded image, metadata stripped
  OutputFormat format = OutputFormat::jpeg;  // never auto_
  int width = 0, height = 0;
  // Diagnostics (for tests and logs): the probed source and the plan executed.
  // shrink_on_load is the plan's factor actually used by the decoder (1 after a
  // fallback to a full-size decode).
  ProbeResult source{};
  int shrink_on_load = 1;
  int channels = 0;  // of the encoded pixels: 3 (BGR) or 4 (BGRA)
};

// The format auto_ resolves to (anything else is returned unchanged).
[[nodiscard]] OutputFormat resolve_output_format(OutputFormat requested, bool accepts_webp,
                                                 bool source_has_alpha) noexcept;

// probe -> check_limits -> plan_geometry -> decode (JPEG shrink-on-load via
// IMREAD_REDUCED_COLOR_n; a grey PNG's tRNS colour key made alpha) -> resize (the
// options' kernel, else INTER_AREA to shrink and INTER_CUBIC to enlarge) -> orient ->
// crop/pad -> encode. `observe`, when set, is called once per completed
// stage with its elapsed steady_clock time (a stage that throws is not reported).
// Throws ImageError (unsupported_format / malformed / over_limit from probe and
// check_limits; undecodable when the pixel data does not decode) or GeometryError.
[[nodiscard]] Transformed transform(std::span<const std::uint8_t> bytes,
                                    const TransformOptions& options,
                                    const SourceLimits& limits,
                                    const StageObserver& observe = {});

}  // namespace pixelmill::imaging
