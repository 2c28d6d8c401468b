#pragma once
// Who may do what (auth.* settings), checked by dispatch() once a route matched
// and before its handler runs, so a refused request costs no image work and
// cannot tell whether an image exists.
//   - auth.api_keys non-empty: POST and DELETE need "Authorization: Bearer KEY";
//     missing or malformed -> 401 with WWW-Authenticate, an unknown key -> 403.
//   - auth.sign_urls: GET/HEAD of a variant on the signed route needs a valid
//     sig= parameter (auth_signature.hpp); missing or wrong -> 403.
// Default-constructed: everything is open.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "pixelmill/config/settings.hpp"
#include "pixelmill/server/http_types.hpp"

namespace pixelmill::server {

class AccessPolicy {
 public:
  AccessPolicy() = default;
  // `signed_route` is the route pattern whose variants need a signature.
  AccessPolicy(const config::AuthSettings& settings, std::string signed_route);

  // Throws HttpError (401/403) when `request`, matched to `route`, is not allowed.
  void check(const Request& request, std::string_view route) const;

 private:
  using Digest = std::array<unsigned char, 32>;  // SHA-256

  void check_api_key(const Request& request) const;
  void check_signature(const Request& request) const;

  // Keys are kept as digests: equal-length values to compare in constant time.
  std::vector<Digest> api_key_digests_;
  bool sign_urls_ = false;
  std::vector<std::string> signing_keys_;
  std::string signed_route_;
};

}  // namespace pixelmill::server
