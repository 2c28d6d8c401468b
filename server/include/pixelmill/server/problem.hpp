#pragma once
// application/problem+json responses (RFC 9457).

#include <string_view>

#include "pixelmill/server/http_error.hpp"
#include "pixelmill/server/http_types.hpp"

namespace pixelmill::server {

inline constexpr std::string_view problem_content_type = "application/problem+json";

// {"type":"urn:pixelmill:problem:<slug>","title":<reason phrase>,"status":N,
//  "detail":...,"instance":<request target>,"request_id":...}
Response problem_response(const HttpError& error, std::string_view instance,
                          std::string_view request_id, unsigned version);

}  // namespace pixelmill::server
