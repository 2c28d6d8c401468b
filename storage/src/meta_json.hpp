#pragma once
// StoredMeta <-> the JSON kept in <id>.json (private to storage/).
#include <optional>
#include <string>
#include <string_view>

#include "pixelmill/storage/stored_meta.hpp"

namespace pixelmill::storage::detail {

[[nodiscard]] std::string meta_to_json(const StoredMeta& meta);

// nullopt if `text` is not a JSON object with a string "format", integer "width" and
// "height" in int range, and a non-negative integer "bytes". Unknown keys are ignored.
[[nodiscard]] std::optional<StoredMeta> meta_from_json(std::string_view text);

}  // namespace pixelmill::storage::detail
