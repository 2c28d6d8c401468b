#pragma once

#include <boost/asio/awaitable.hpp>

#include "pixelmill/server/http_error.hpp"
#include "server_state.hpp"

namespace pixelmill::server {

// Routes the request, runs its handler, turns every failure into problem+json,
// sets the common headers, records metrics and writes the access-log line.
// The handler may take the request body (by move): uploads are not copied.
boost::asio::awaitable<Response> dispatch(ServerState& state, Request& request);

// An error answered before a request could be routed (431, 413, 400): same
// headers, metrics and access log as dispatch().
Response reject(ServerState& state, const HttpError& error, const Request* request);

}  // namespace pixelmill::server
