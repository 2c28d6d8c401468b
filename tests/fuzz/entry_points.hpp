#pragma once
// The six fuzz entry points, shared by the libFuzzer targets (tests/fuzz/fuzz_*.cpp,
// clang, PIXELMILL_FUZZ=ON) and by the regression test that replays
// tests/fuzz/regressions/<target>/ under the normal g++ build (and so under the ASan
// and TSan CI configurations too).
//
// Each one feeds arbitrary bytes to one parser and returns normally when the parser
// either succeeds with a sane result or refuses the input with its documented
// exception. Anything else — another exception, a broken invariant (checked with
// std::abort, so libFuzzer and doctest both see a crash), a sanitizer report, a hang
// — is a bug.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace pixelmill::fuzz {

using Input = std::span<const std::uint8_t>;

// imaging::probe and check_limits: header readers only.
void probe_one(Input data);
// imaging::transform with small source limits and a small output, so every input is
// cheap: probe -> check_limits -> decode (JPEG shrink-on-load) -> resize -> encode.
// The last byte picks the fit and the output format.
void decode_one(Input data);
// imaging's restart splitter (imaging/src/jpeg_restart.hpp): bands that tile the
// image, each itself splittable; and for a small Y'CbCr JPEG that decodes cleanly, the
// bands decoded into one set of planes (what transform does) equal the whole decode.
// The last byte picks the band count.
void restart_one(Input data);
// imaging's speculative split decoder (imaging/src/jpeg_split_decode.hpp) on a
// Y'CbCr JPEG without restart markers: when it takes the file, libjpeg decodes the
// same file without a warning to the same samples, at 1/4 and 1/8. A byte of
// the scan picks the segment count and the sync margin.
void split_one(Input data);
// server::parse_transform_params: the query is the input up to the first '\n', the
// Accept header the rest.
void image_params_one(Input data);
// server::require_boundary and find_file_part: the Content-Type is the input up to
// the first '\n', the multipart body the rest.
void multipart_one(Input data);

// Name ("fuzz_probe", ...) -> entry point, for the regression runner.
using EntryPoint = void (*)(Input);
struct Target {
  std::string_view name;
  EntryPoint run;
};
inline constexpr Target targets[] = {
    {"fuzz_probe", probe_one},
    {"fuzz_decode", decode_one},
    {"fuzz_restart", restart_one},
    {"fuzz_split", split_one},
    {"fuzz_image_params", image_params_one},
    {"fuzz_multipart", multipart_one},
};

}  // namespace pixelmill::fuzz
