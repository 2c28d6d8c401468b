#pragma once

#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server_state.hpp"

namespace pixelmill::server {

// One connection, from accept to close: keep-alive, sequential pipelining, limits
// and timeouts. A free coroutine with by-value parameters (see GCC bug 100611).
boost::asio::awaitable<void> run_session(std::shared_ptr<ServerState> state,
                                         boost::asio::ip::tcp::socket socket);

// Accepts until the acceptor closes, spreading connections over the I/O threads
// and enforcing server.max_connections.
boost::asio::awaitable<void> run_listener(std::shared_ptr<ServerState> state);

}  // namespace pixelmill::server
