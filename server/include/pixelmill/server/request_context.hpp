#pragma once
// What a handler gets: the request, the matched route's pattern and path
// parameters, the request id, and the runtime services it may use.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pixelmill/runtime/offload.hpp"
#include "pixelmill/server/http_types.hpp"

namespace pixelmill::server {

struct RequestContext {
  Request& request;  // handlers may move the body out (uploads are not copied)
  std::string request_id;
  std::string_view route;  // the pattern, e.g. "/v1/images/{id}": metric label
  std::vector<std::pair<std::string, std::string>> params;
  runtime::Offloader& offloader;

  std::optional<std::string_view> param(std::string_view name) const {
    for (const auto& [key, value] : params) {
      if (key == name) return value;
    }
    return std::nullopt;
  }
};

// A response with the request's version and keep-alive already set.
Response make_response(const RequestContext& ctx, http::status status, std::string_view body,
                       std::string_view content_type);

}  // namespace pixelmill::server
