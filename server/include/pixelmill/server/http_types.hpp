#pragma once
// The request and response types every handler sees.

#include <cstdint>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/vector_body.hpp>

#include "pixelmill/server/uninitialized_allocator.hpp"

namespace pixelmill::server {

namespace http = boost::beast::http;

// Request bytes are received into a buffer sized first and never zero-filled
// (uninitialized_allocator.hpp); Beast's chunked reader grows it the same way.
using RequestBody = http::vector_body<char, UninitializedAllocator<char>>;
using Request = http::request<RequestBody>;
// A byte vector body: encoders hand over their output buffer by move, no copy.
using Response = http::response<http::vector_body<std::uint8_t>>;

}  // namespace pixelmill::server
