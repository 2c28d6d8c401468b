#pragma once
// The resampling kernel a client may choose with `kernel=`. Without one, transform()
// area-averages to shrink (no aliasing) and interpolates bicubically to enlarge.
#include <optional>
#include <string_view>

namespace pixelmill::imaging {

enum class Kernel { nearest, linear, cubic, area, lanczos };

// "nearest" | "linear" | "cubic" | "area" | "lanczos" (lowercase only, like the other
// parsers); std::nullopt otherwise.
[[nodiscard]] std::optional<Kernel> parse_kernel(std::string_view text) noexcept;
// The same names (canonical, for cache keys).
[[nodiscard]] std::string_view to_string(Kernel kernel) noexcept;

}  // namespace pixelmill::imaging
