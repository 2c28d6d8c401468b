#pragma once

#include <boost/asio/awaitable.hpp>

#include "pixelmill/server/http_error.hpp"
#include "server_state.hpp"

namespace pixelmill::server {

// Routes the request, runs its handler, turns every failure into problem+json,
// sets the common headers, records metrics and writes the access-log line.
// The handler may take the request body (by move): uploads are not copied.
// `client_gone`, when given, is set by the session if the client disconnects while
// the handler runs; the request is then recorded as 499 (nginx's "client closed
// request"), not as the 503 a cancellation at shutdown gets.
boost::asio::awaitable<Response> dispatch(ServerState& state, Request& request,
                                          const bool* client_gone = nullptr);

// An error answered before a request could be routed (431, 413, 400): same
// headers, metrics and access log as dispatch().
Response reject(ServerState& state, const HttpError& error, const Request* request);

}  // namespace pixelmill::server
