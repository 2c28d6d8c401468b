#pragma once
// StoredMeta: what the caller knows about an original (from imaging's probe), kept
// beside it on disk as <id>.json:
//   {"format":"jpeg","width":4000,"height":3000,"bytes":1234567}
// `bytes` is the size of the original; the store checks it against the file on every
// read (a cheap integrity check: a truncated or replaced file is reported, not served).
#include <cstdint>
#include <string>

namespace pixelmill::storage {

struct StoredMeta {
  std::string format;       // e.g. "jpeg", "png", "webp", "tiff", "bmp"
  int width = 0;
  int height = 0;
  std::uint64_t bytes = 0;  // size of the original in bytes

  friend bool operator==(const StoredMeta&, const StoredMeta&) = default;
};

}  // namespace pixelmill::storage
