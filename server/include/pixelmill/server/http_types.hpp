#pragma once
// The request and response types every handler sees.

#include <cstdint>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/vector_body.hpp>

namespace pixelmill::server {

namespace http = boost::beast::http;

using Request = http::request<http::string_body>;
// A byte vector body: encoders hand over their output buffer by move, no copy.
using Response = http::response<http::vector_body<std::uint8_t>>;

}  // namespace pixelmill::server
