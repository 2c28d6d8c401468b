#pragma once
// Signed image URLs, like imgproxy's: a URL carries
//   sig = base64url, unpadded, of HMAC-SHA256(key, canonical_target(target))
// so that only holders of a signing key can mint resize requests. The server
// (AccessPolicy) and `pixelmill sign` both go through these functions: one
// canonical form, one HMAC.
//
// Canonical target: the path, '?', then the query without `sig`:
//   - path segments and query names and values are percent-decoded ('+' in the
//     query is a space), then re-encoded: every byte other than A-Z a-z 0-9 - . _ ~
//     becomes %XX with upper-case hex ("%2f" and "%2F" and "/" inside a value are
//     one spelling: "%2F");
//   - parameters are sorted by encoded name, byte order (a stable sort: repeated
//     names keep their order); "name" without '=' stays without '='; empty
//     parameters ("a=1&&b=2", a trailing '&') are dropped;
//   - the '?' is always there: "/v1/images/ID" signs "/v1/images/ID?".
// Example: "/v1/images/ab?w=200&fit=cover&h=1%30%30" -> "/v1/images/ab?fit=cover&h=100&w=200".

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pixelmill::server {

// The query parameter that carries the signature; never a transform parameter.
inline constexpr std::string_view signature_param = "sig";

// The text that is signed; nullopt when `target` is not origin-form ("/path?query").
[[nodiscard]] std::optional<std::string> canonical_target(std::string_view target);

// base64url without padding of HMAC-SHA256(key, canonical): always 43 characters.
[[nodiscard]] std::string url_signature(std::string_view key, std::string_view canonical);

// canonical_target(target) plus "&sig=..." ("?sig=..." after an empty query),
// signed with `key`; nullopt when `target` is not origin-form.
[[nodiscard]] std::optional<std::string> signed_target(std::string_view target, std::string_view key);

// Whether `signature` is the signature of `canonical` under any of `keys`. Every
// key is tried and compared in constant time (CRYPTO_memcmp), so timing tells
// neither which key matched nor how many leading characters were right.
[[nodiscard]] bool signature_valid(std::string_view canonical, std::string_view signature,
                                   std::span<const std::string> keys);

// Whether a request target asks for a variant: it has a query, and that query is
// not only a signature ("?sig=..." alone names the original).
[[nodiscard]] bool has_transform_query(std::string_view target);

}  // namespace pixelmill::server
