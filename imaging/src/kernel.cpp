#include "pixelmill/imaging/kernel.hpp"

#include <array>
#include <utility>

namespace pixelmill::imaging {

namespace {

constexpr std::array<std::pair<Kernel, std::string_view>, 5> kNames{{
    {Kernel::nearest, "nearest"},
    {Kernel::linear, "linear"},
    {Kernel::cubic, "cubic"},
    {Kernel::area, "area"},
    {Kernel::lanczos, "lanczos"},
}};

}  // namespace

std::optional<Kernel> parse_kernel(std::string_view text) noexcept {
  for (const auto& [kernel, name] : kNames) {
    if (text == name) return kernel;
  }
  return std::nullopt;
}

std::string_view to_string(Kernel kernel) noexcept {
  for (const auto& [k, name] : kNames) {
    if (k == kernel) return name;
  }
  return "unknown";
}

}  // namespace pixelmill::imaging
