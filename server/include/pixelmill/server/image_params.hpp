#pragma once
// The image API's query parameters -> imaging::TransformOptions.
//
//   w, h        positive integers, <= limits.max_output_dimension (default: unset)
//   fit         cover | contain | fill | inside | outside           (cover)
//   position    sharp's gravity / position names, see geometry.hpp  (centre)
//   background  rgb | rrggbb | rrggbbaa, optional '#', or white | black | transparent
//                                                                   (white)
//   enlarge     true | false | 1 | 0                                (false)
//   format      jpeg | jpg | png | webp | auto                      (auto)
//   quality     1..100                                              (80)
//   orient      true | false | 1 | 0                                (true)
//   kernel      nearest | linear | cubic | area | lanczos           (unset: area to
//                                                                    shrink, cubic to
//                                                                    enlarge)
//
// Each parameter may appear at most once. Anything else (an unknown name, a bad
// value, a repeated name, a malformed query) is a 400 HttpError with slug
// "bad-parameter" whose detail names the parameter, the value and what is allowed:
// a typo must not silently produce a different image that then gets cached.

#include <string>
#include <string_view>

#include "pixelmill/imaging/transform.hpp"

namespace pixelmill::server {

// `target_or_query` is a request target ("/images?w=100&h=50"), a query with its
// '?' ("?w=100") or without ("w=100"); values are percent-decoded and '+' is a
// space. `accept_header` sets accepts_webp (see accepts_webp()). Throws HttpError.
[[nodiscard]] imaging::TransformOptions parse_transform_params(std::string_view target_or_query,
                                                               std::string_view accept_header,
                                                               unsigned max_output_dimension);

// Whether an HTTP Accept header lists image/webp with a non-zero q-value (media
// types and parameter names case-insensitive, spaces around ',' ';' '=' allowed).
// "image/*" and "*/*" do not count: every browser that decodes WebP names it
// explicitly (Chrome, Firefox >= 65, Safari >= 14, Edge), while clients that send
// only wildcards (curl, wget, many HTTP libraries, older browsers, <img> in old
// Safari) would get an image some of them cannot show. JPEG/PNG are always safe.
// A range with a malformed q-value is ignored, and an explicit image/webp;q=0
// wins over any other image/webp entry.
[[nodiscard]] bool accepts_webp(std::string_view accept_header) noexcept;

// A stable text of every field of `options` after defaults, e.g.
//   "w=800&h=-&fit=cover&position=centre&enlarge=0&format=auto&webp=1&quality=80&
//    background=ffffffff&orient=1&max=8192"
// (one line, no spaces; "&kernel=<name>" follows orient only when a kernel is given,
// so default requests keep their keys). Equal options give equal strings and
// different options different ones, whatever spelling the client used ("jpg" =
// "jpeg", "#FFF" = "white"), so it can feed ETags and cache keys. The output format
// is not resolved yet: `format` is the one requested, and accepts_webp ("webp=0|1") is
// included only for format=auto, the only case it changes the result.
[[nodiscard]] std::string canonical_params(const imaging::TransformOptions& options);

}  // namespace pixelmill::server
