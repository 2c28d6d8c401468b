#include "meta_json.hpp"

#include <boost/json.hpp>

#include <limits>

namespace pixelmill::storage::detail {

namespace json = boost::json;

std::string meta_to_json(const StoredMeta& meta) {
  json::object o;
  o["format"] = meta.format;
  o["width"] = meta.width;
  o["height"] = meta.height;
  o["bytes"] = meta.bytes;
  return json::serialize(o);
}

namespace {

template <class T>
std::optional<T> integer(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !(v->is_int64() || v->is_uint64())) return std::nullopt;
  boost::system::error_code ec;
  const T n = v->to_number<T>(ec);  // fails if out of T's range
  if (ec) return std::nullopt;
  return n;
}

}  // namespace

std::optional<StoredMeta> meta_from_json(std::string_view text) {
  boost::system::error_code ec;
  const json::value root = json::parse(text, ec);
  if (ec || !root.is_object()) return std::nullopt;
  const json::object& o = root.get_object();

  const json::value* format = o.if_contains("format");
  const auto width = integer<int>(o, "width");
  const auto height = integer<int>(o, "height");
  const auto bytes = integer<std::uint64_t>(o, "bytes");
  if (format == nullptr || !format->is_string() || !width || !height || !bytes) return std::nullopt;

  StoredMeta meta;
  meta.format = std::string(format->get_string());
  meta.width = *width;
  meta.height = *height;
  meta.bytes = *bytes;
  return meta;
}

}  // namespace pixelmill::storage::detail
