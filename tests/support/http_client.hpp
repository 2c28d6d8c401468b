#pragma once
// A blocking HTTP/1.1 client over a real TCP connection to 127.0.0.1, for tests.
// One object is one connection, so keep-alive and pipelining can be asserted.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace pixelmill::test {

namespace http = boost::beast::http;
using StringResponse = http::response<http::string_body>;

class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port) : stream_(context_) {
    stream_.expires_after(std::chrono::seconds(10));
    stream_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  }

  StringResponse request(http::verb method, std::string_view target, std::string body = {},
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [name, value] : headers) req.set(name, value);
    req.body() = std::move(body);
    req.prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    http::write(stream_, req);
    return read_response();
  }

  StringResponse get(std::string_view target) { return request(http::verb::get, target); }

  void send_raw(std::string_view bytes) {
    stream_.expires_after(std::chrono::seconds(10));
    boost::asio::write(stream_, boost::asio::buffer(bytes.data(), bytes.size()));
  }

  StringResponse read_response(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    stream_.expires_after(std::chrono::seconds(30));
    http::read(stream_, buffer_, parser);
    return parser.release();
  }

  // True when the server closes the connection (EOF or reset) within `within`.
  bool closed_by_server(std::chrono::milliseconds within) {
    stream_.expires_after(within);
    char byte;
    boost::system::error_code ec;
    stream_.read_some(boost::asio::buffer(&byte, 1), ec);
    return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }

  boost::beast::tcp_stream& stream() { return stream_; }

 private:
  boost::asio::io_context context_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace pixelmill::test
