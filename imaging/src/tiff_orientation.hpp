#pragma once
// The Orientation tag (0x0112) in the first IFD of a TIFF structure: an EXIF block
// (JPEG APP1, PNG eXIf, WebP EXIF) or a TIFF file itself. A bounds-checked walk over
// classic TIFF and BigTIFF in either byte order, hand-written: libexif would parse every
// IFD, maker notes and thumbnails (more code facing untrusted input, one more runtime
// package) to read one 16-bit value, and libtiff cannot rewrite a tag in a buffer.
// Private to imaging/.
#include <span>

namespace pixelmill::imaging {

// 1..8. An "Exif\0\0" prefix is skipped. Absent, unreadable or out-of-range values
// give 1: broken metadata must not make an otherwise good image unusable.
[[nodiscard]] int exif_orientation(std::span<const unsigned char> tiff) noexcept;

// Rewrites the Orientation value of a TIFF file's first IFD to 1, in place. False when
// there is no such entry, or it is not a single integer (libtiff ignores those too).
[[nodiscard]] bool reset_orientation(std::span<unsigned char> tiff) noexcept;

}  // namespace pixelmill::imaging
