#include "session.hpp"

#include <algorithm>
#include <array>
#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "dispatch.hpp"
#include "pixelmill/runtime/log.hpp"

namespace pixelmill::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
constexpr auto as_tuple = asio::as_tuple(asio::use_awaitable);

// Counts a connection from accept (in the listener) until its session ends.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(ServerState& state) : state_(state) {}
  ~ConnectionSlot() {
    const std::size_t open = state_.open_connections.fetch_sub(1) - 1;
    state_.metrics.connections_open().Decrement();
    state_.trimmer.closed(open);
  }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  ServerState& state_;
};

// Waits for the first byte of the next request under the idle timeout. Only this
// wait accepts "total" cancellation, so a drain closes idle keep-alive connections
// at once while requests already being read or handled run to completion.
asio::awaitable<bool> wait_for_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                       std::chrono::milliseconds idle_timeout) {
  if (buffer.size() > 0) co_return true;  // a pipelined request is already here
  co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
  stream.expires_after(idle_timeout);
  // Small: most of 10,000 keep-alive connections sit here, each with this buffer.
  // Headers longer than this are read on by async_read_header, which grows it.
  auto [ec, n] = co_await stream.async_read_some(buffer.prepare(512), as_tuple);
  co_await asio::this_coro::reset_cancellation_state(asio::enable_terminal_cancellation());
  if (ec) co_return false;
  buffer.commit(n);
  co_return true;
}

template <class Message>
asio::awaitable<bool> write_message(beast::tcp_stream& stream, Message& message,
                                    std::chrono::milliseconds timeout) {
  stream.expires_after(timeout);
  auto [ec, n] = co_await beast::http::async_write(stream, message, as_tuple);
  co_return !ec;
}

// After answering a request whose body we did not read (413, 431, 400), closing at
// once would leave unread bytes in the kernel buffer and turn the close into a RST,
// which can destroy the answer before the client reads it. So: half-close, then
// discard what the client still sends, bounded in time and bytes (nginx's
// lingering_close).
asio::awaitable<void> linger_close(beast::tcp_stream& stream) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(std::chrono::seconds(1));
  std::array<char, 16 * 1024> sink;
  for (std::size_t total = 0; total < 1024 * 1024;) {
    auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(sink), as_tuple);
    if (read_ec) break;
    total += n;
  }
  stream.socket().close(ec);
}

// Maps a failed header or body read to the answer it deserves, if any. Timeouts,
// closes and cancellations get none: the client is gone or too slow (slowloris).
std::optional<HttpError> read_error_answer(const error_code& ec, const ServerState& state) {
  using http_error = beast::http::error;
  if (ec == http_error::header_limit) {
    return HttpError(http::status::request_header_fields_too_large, "headers-too-large",
                     "Request headers exceed " + std::to_string(state.settings.max_header_bytes) +
                         " bytes (server.max_header_bytes).");
  }
  if (ec == http_error::body_limit) {
    return HttpError(http::status::payload_too_large, "body-too-large",
                     "Request body exceeds " + std::to_string(state.settings.max_body_bytes) +
                         " bytes (server.max_body_bytes).");
  }
  if (ec.category() == beast::http::make_error_code(http_error::bad_method).category() &&
      ec != http_error::end_of_stream && ec != http_error::partial_message) {
    return HttpError(http::status::bad_request, "malformed-request",
                     "The request is not valid HTTP/1.1: " + ec.message() + ".");
  }
  return std::nullopt;
}

// Runs beside a request's handler and returns only when the client is gone (EOF,
// reset), setting `gone`: then the handler is cancelled, so work still queued for
// a CPU thread is dropped instead of computed for nobody. Bytes of a pipelined next
// request are kept in `buffer`; past `max_buffered` it stops reading and just
// waits, because a client that floods us mid-request is not one to read for. Like
// nginx, a client that half-closes after its request counts as gone.
asio::awaitable<void> until_client_gone(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                        std::size_t max_buffered, bool& gone) {
  stream.expires_never();
  while (buffer.size() < max_buffered) {
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), as_tuple);
    if (ec == asio::error::operation_aborted) co_return;  // the handler finished first
    if (ec) {
      gone = true;
      co_return;
    }
    buffer.commit(n);
  }
  asio::steady_timer forever(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  co_await forever.async_wait(as_tuple);
}

// The handler raced against the client leaving; empty when the client left. Named
// awaitables, not temporaries, in the co_await expression (GCC bug 100611).
asio::awaitable<std::optional<Response>> dispatch_while_connected(ServerState& state,
                                                                  beast::tcp_stream& stream,
                                                                  beast::flat_buffer& buffer,
                                                                  Request& request) {
  using namespace asio::experimental::awaitable_operators;
  bool gone = false;
  auto handler = dispatch(state, request, &gone);
  auto watcher = until_client_gone(stream, buffer, state.settings.max_header_bytes, gone);
  auto race = std::move(handler) || std::move(watcher);
  auto outcome = co_await std::move(race);
  if (gone || outcome.index() != 0) co_return std::nullopt;
  co_return std::move(std::get<0>(outcome));
}

// Only plain `chunked` is accepted as a transfer coding: anything else (gzip, a
// list) is refused before the body is read, as RFC 9112 §6.1 asks, so a front
// proxy and pixelmill can never disagree about where this request's body ends.
std::optional<HttpError> unsupported_transfer_coding(const Request& header) {
  const auto coding = header[http::field::transfer_encoding];
  if (coding.empty() || beast::iequals(coding, "chunked")) return std::nullopt;
  return HttpError(http::status::not_implemented, "unsupported-transfer-encoding",
                   "Transfer-Encoding \"" + std::string(coding) +
                       "\" is not supported; send the body with Content-Length or chunked.");
}

bool expects_continue(const Request& request) {
  return beast::iequals(request[http::field::expect], "100-continue");
}

// Bytes per recv while Beast reads a chunked request body: its own cap on one read.
constexpr std::size_t kBodyReadChunk = 64 * 1024;
// Bytes per recv while a Content-Length body is read into place: large, so a
// megabyte upload is a few syscalls, yet bounded, so one recv (a kernel copy of at
// most this much, ~0.1 ms) does not hold the I/O thread long.
constexpr std::size_t kSizedBodyRecv = 1024 * 1024;

// A Content-Length body read straight into the request's body, sized without being
// zero-filled (http_types.hpp): the bytes already in `buffer`, then recv into their
// final place. Beast's own read would recv into
// `buffer` 64 KiB at a time and copy each piece into the body (on the benchmark's
// 2.9 MB upload the I/O thread spent a sixth of its time in that copy). A pipelined
// next request behind the body stays in `buffer`.
asio::awaitable<error_code> read_sized_body(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                            RequestBody::value_type& body, std::size_t length) {
  body.resize(length);
  const std::size_t buffered = asio::buffer_copy(asio::buffer(body), buffer.data());
  buffer.consume(buffered);
  for (std::size_t at = buffered; at < length;) {
    const std::size_t want = std::min(kSizedBodyRecv, length - at);
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(body.data() + at, want), as_tuple);
    if (ec) co_return ec;
    at += n;
  }
  co_return error_code{};
}

// Reads the body announced by the header `parser` holds, into the message it holds.
asio::awaitable<error_code> read_body(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                      http::request_parser<RequestBody>& parser) {
  const auto length = parser.content_length();
  if (length && !parser.chunked()) {
    co_return co_await read_sized_body(stream, buffer, parser.get().body(), *length);
  }
  // Chunked: Beast reads it through `buffer`, as much per recv as the buffer has room
  // for (from 512 bytes), so room for kBodyReadChunk per recv; run_session gives it
  // back once the connection is idle. Neither (no body): Beast completes at once.
  if (parser.chunked()) buffer.reserve(kBodyReadChunk);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, as_tuple);
  co_return ec;
}

// One request/response exchange. Returns false when the connection must close.
asio::awaitable<bool> serve_one(ServerState& state, beast::tcp_stream& stream,
                                beast::flat_buffer& buffer) {
  const auto& settings = state.settings;
  http::request_parser<RequestBody> parser;
  parser.header_limit(static_cast<std::uint32_t>(settings.max_header_bytes));
  parser.body_limit(settings.max_body_bytes);

  stream.expires_after(settings.header_timeout);
  auto [header_ec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, as_tuple);
  std::optional<HttpError> refusal;
  if (header_ec) {
    refusal = read_error_answer(header_ec, state);
  } else if (parser.content_length() && *parser.content_length() > settings.max_body_bytes) {
    refusal = read_error_answer(http::error::body_limit, state);  // before reading a byte
  } else {
    refusal = unsupported_transfer_coding(parser.get());
  }
  if (!refusal && !header_ec) {
    if (expects_continue(parser.get())) {
      http::response<http::empty_body> go_on{http::status::continue_, 11};
      if (!co_await write_message(stream, go_on, settings.body_timeout)) co_return false;
    }
    stream.expires_after(settings.body_timeout);
    const error_code body_ec = co_await read_body(stream, buffer, parser);
    if (body_ec) {
      refusal = read_error_answer(body_ec, state);
      if (!refusal) co_return false;
    }
  }
  if (header_ec && !refusal) co_return false;
  if (refusal) {
    Response res = reject(state, *refusal, parser.is_header_done() ? &parser.get() : nullptr);
    res.keep_alive(false);
    if (co_await write_message(stream, res, settings.body_timeout)) co_await linger_close(stream);
    co_return false;
  }

  Request request = parser.release();
  auto answered = co_await dispatch_while_connected(state, stream, buffer, request);
  if (!answered) co_return false;  // the client left; the handler was cancelled
  Response& res = *answered;
  const bool keep_alive = request.keep_alive() && !state.draining.load();
  res.keep_alive(keep_alive);
  if (!co_await write_message(stream, res, settings.body_timeout)) co_return false;
  co_return keep_alive;
}

// A session ends by exception only when cancelled at shutdown (expected) or on a
// bug (logged loudly).
void log_session_failure(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    const bool cancelled = e.code() == asio::error::operation_aborted;
    runtime::log_event(cancelled ? spdlog::level::debug : spdlog::level::err,
                       cancelled ? "session cancelled" : "session failed", {{"error", e.what()}});
  } catch (const std::exception& e) {
    runtime::log_event(spdlog::level::err, "session failed", {{"error", e.what()}});
  }
}

void spawn_session(const std::shared_ptr<ServerState>& state, tcp::socket socket) {
  auto executor = socket.get_executor();
  auto member = state->sessions.join(executor);
  asio::co_spawn(executor, run_session(state, std::move(socket)),
                 asio::bind_cancellation_slot(
                     member->signal.slot(), [state, member](std::exception_ptr error) {
                       if (error) log_session_failure(error);
                       state->sessions.leave(member);
                     }));
}

}  // namespace

asio::awaitable<void> run_session(std::shared_ptr<ServerState> state, tcp::socket socket) {
  ConnectionSlot slot(*state);
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  while (!state->draining.load()) {
    if (!co_await wait_for_request(stream, buffer, state->settings.idle_timeout)) break;
    if (!co_await serve_one(*state, stream, buffer)) break;
    if (buffer.size() == 0) buffer.shrink_to_fit();  // an idle connection holds no buffer
  }
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> run_listener(std::shared_ptr<ServerState> state) {
  std::size_t refused_in_burst = 0;
  for (;;) {
    asio::any_io_executor strand = asio::make_strand(state->io.next_context());
    auto [ec, socket] = co_await state->acceptor->async_accept(strand, as_tuple);
    if (!state->acceptor->is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning on the error.
      runtime::log_event(spdlog::level::warn, "accept failed", {{"error", ec.message()}});
      asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(as_tuple);
      continue;
    }
    if (state->open_connections.load() >= state->settings.max_connections) {
      socket.close(ec);
      state->metrics.connections_refused().Increment();
      if (refused_in_burst++ == 0) {  // once per burst, not per connection
        runtime::log_event(spdlog::level::warn, "connection limit reached, refusing connections",
                           {runtime::log_number("max_connections",
                                                static_cast<double>(state->settings.max_connections))});
      }
      continue;
    }
    if (refused_in_burst > 0) {
      runtime::log_event(spdlog::level::info, "connection limit: accepting again",
                         {runtime::log_number("refused", static_cast<double>(refused_in_burst))});
      refused_in_burst = 0;
    }
    state->trimmer.opened(state->open_connections.fetch_add(1) + 1);
    state->metrics.connections_open().Increment();
    state->metrics.connections_total().Increment();
    spawn_session(state, std::move(socket));
  }
}

}  // namespace pixelmill::server
