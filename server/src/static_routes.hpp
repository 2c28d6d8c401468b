#pragma once
// Files compiled into the binary (server/assets/embed.cmake) and the routes that
// serve them:
//   GET /openapi.yaml  the API contract, docs/openapi.yaml byte for byte
//   GET /              the playground page, unless server.playground = false (then
//                      the route does not exist: 404)

#include <string_view>

#include "pixelmill/server/router.hpp"

namespace pixelmill::server {

namespace assets {
std::string_view openapi_yaml();     // docs/openapi.yaml
std::string_view playground_html();  // server/assets/playground.html
}  // namespace assets

void add_static_routes(Router& router, bool playground);

}  // namespace pixelmill::server
