#pragma once
// An error that knows its HTTP answer (userver's split): detail() is the external
// text sent to the client in the problem+json body; what() is the internal message,
// which is logged and never sent.

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pixelmill/server/http_types.hpp"

namespace pixelmill::server {

class HttpError : public std::runtime_error {
 public:
  using Headers = std::vector<std::pair<http::field, std::string>>;

  // slug names the problem type: urn:pixelmill:problem:<slug>.
  HttpError(http::status status, std::string slug, std::string detail, std::string internal = {},
            Headers headers = {})
      : std::runtime_error(internal.empty() ? detail : internal),
        status_(status),
        slug_(std::move(slug)),
        detail_(std::move(detail)),
        headers_(std::move(headers)) {}

  http::status status() const { return status_; }
  const std::string& slug() const { return slug_; }
  const std::string& detail() const { return detail_; }
  const Headers& headers() const { return headers_; }

 private:
  http::status status_;
  std::string slug_;
  std::string detail_;
  Headers headers_;
};

}  // namespace pixelmill::server
