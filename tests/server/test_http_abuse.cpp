// Hostile HTTP over real sockets: request smuggling attempts, bad methods and
// versions, header floods, short bodies, pipelined garbage, and clients that leave
// mid-body or while their job waits for a CPU thread. Each ends with a precise
// answer (or a close) and leaves no connection, fd or job behind.
#include <doctest/doctest.h>

#include <memory>
#include <thread>

#include "server_fixture.hpp"
#include "wait_until.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
using test::http::status;

namespace {

config::Settings short_timeouts() {
  auto s = test::test_settings();
  s.server.max_header_bytes = 2048;
  s.server.header_timeout = 300ms;
  s.server.body_timeout = 300ms;
  return s;
}

std::string problem_type(const test::StringResponse& res) {
  return std::string(test::json_body(res).at("type").as_string());
}

// Sends `raw`, expects exactly one 400 malformed-request answer and then a close:
// whatever followed the bad request was not executed as a second request.
void expect_refused_then_closed(test::ServerFixture& f, const std::string& raw) {
  auto client = f.client();
  client.send_raw(raw);
  auto res = client.read_response();
  CHECK(res.result() == status::bad_request);
  CHECK(problem_type(res) == "urn:pixelmill:problem:malformed-request");
  CHECK_FALSE(res.keep_alive());
  CHECK(client.closed_by_server(3s));
}

double open_fds(test::HttpClient& observer) {
  return test::value(observer.get("/metrics").body(), "process_open_fds");
}

}  // namespace

TEST_CASE("Content-Length together with Transfer-Encoding is refused, nothing smuggled") {
  test::ServerFixture f;
  expect_refused_then_closed(
      f,
      "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nGET /v1/images/smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_FALSE(test::sample(f.metrics(), R"(pixelmill_http_requests_total{code="404",method="GET",route="unmatched"})"));
}

TEST_CASE("two different Content-Length values are refused") {
  test::ServerFixture f;
  expect_refused_then_closed(
      f, "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc");
}

TEST_CASE("a Transfer-Encoding other than plain chunked gets 501 before the body is read") {
  test::ServerFixture f;
  for (const char* coding : {"gzip", "gzip, chunked", "chunked, chunked"}) {
    CAPTURE(coding);
    auto client = f.client();
    client.send_raw(std::string("POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") + coding +
                    "\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    auto res = client.read_response();
    CHECK(res.result() == status::not_implemented);
    CHECK(problem_type(res) == "urn:pixelmill:problem:unsupported-transfer-encoding");
    CHECK(client.closed_by_server(3s));
  }
  CHECK_FALSE(test::sample(f.metrics(), R"(pixelmill_http_requests_total{code="200",method="POST",route="/test/echo"})"));
}

TEST_CASE("a method with invalid characters or an invalid version is refused") {
  test::ServerFixture f;
  expect_refused_then_closed(f, "G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_refused_then_closed(f, "GET /healthz HTTP/1.x\r\nHost: x\r\n\r\n");
  expect_refused_then_closed(f, "GET /healthz\r\nHost: x\r\n\r\n");  // HTTP/0.9 style
}

TEST_CASE("an unknown but well-formed method gets 405 with Allow") {
  test::ServerFixture f;
  auto client = f.client();
  client.send_raw("BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto res = client.read_response();
  CHECK(res.result() == status::method_not_allowed);
  CHECK(res[test::http::field::allow] == "GET, HEAD");
  CHECK(problem_type(res) == "urn:pixelmill:problem:method-not-allowed");
}

TEST_CASE("a flood of small headers over the byte limit gets 431") {
  test::ServerFixture f(short_timeouts());
  std::string raw = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 500; ++i) raw += "X-H" + std::to_string(i) + ": v\r\n";
  auto client = f.client();
  client.send_raw(raw + "\r\n");
  auto res = client.read_response();
  CHECK(res.result() == status::request_header_fields_too_large);
  CHECK(client.closed_by_server(3s));
}

TEST_CASE("a body shorter than its Content-Length is cut off at the body timeout") {
  test::ServerFixture f(short_timeouts());
  auto client = f.client();
  const auto start = std::chrono::steady_clock::now();
  client.send_raw("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b");
  CHECK(client.closed_by_server(5s));
  CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  CHECK_FALSE(test::sample(f.metrics(), R"(pixelmill_http_requests_total{code="200",method="POST",route="/test/echo"})"));
}

TEST_CASE("garbage pipelined after a valid request: the valid one is answered, then 400 and close") {
  test::ServerFixture f;
  auto client = f.client();
  client.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\x01\x02garbage\xff\r\n\r\n");
  CHECK(client.read_response().result() == status::ok);
  auto res = client.read_response();
  CHECK(res.result() == status::bad_request);
  CHECK(client.closed_by_server(3s));
}

TEST_CASE("clients that disconnect mid-body leave no connection or fd behind") {
  test::ServerFixture f(short_timeouts());
  auto observer = f.client();
  REQUIRE(observer.get("/healthz").result() == status::ok);
  const double fds_before = open_fds(observer);
  for (int i = 0; i < 20; ++i) {
    auto client = f.client();
    client.send_raw("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                    std::string(1000, 'x'));
  }  // each client closes here, mid-body
  auto open_connections = [&] {
    return test::value(observer.get("/metrics").body(), "pixelmill_http_connections_open");
  };
  test::wait_until([&] { return open_connections() == 1 && open_fds(observer) == fds_before; });
  CHECK(open_connections() == 1);  // the observer's
  CHECK(open_fds(observer) == fds_before);
}

TEST_CASE("a client gone while its job is queued: the job is dropped, recorded as 499") {
  auto settings = test::test_settings();
  settings.runtime.cpu_threads = 1;
  settings.runtime.cpu_queue_length = 2;
  test::ServerFixture f(settings);
  auto observer = f.client();
  const double fds_before = open_fds(observer);
  auto running = f.occupy_cpu(1, 0);
  test::wait_until([&] { return f.metric("pixelmill_cpu_busy_threads") == 1; });  // the only one
  {
    auto leaver = f.client();
    leaver.send_raw("GET /test/wait HTTP/1.1\r\nHost: x\r\n\r\n");
    test::wait_until([&] { return f.metric("pixelmill_cpu_queue_depth") == 1; });
  }  // closes while its job waits in the queue
  const char* client_closed = R"(pixelmill_http_requests_total{code="499",method="GET",route="/test/wait"})";
  test::wait_until([&] { return test::sample(f.metrics(), client_closed).value_or(0) == 1; });
  f.open_gate();
  for (auto& request : running) CHECK(request.get().result() == status::ok);
  // The pool drops the abandoned job when a thread reaches it, without running it.
  const char* cancelled = R"(pixelmill_cpu_jobs_total{outcome="cancelled"})";
  test::wait_until([&] { return f.metric(cancelled) == 1; });
  const std::string text = f.metrics();
  CHECK(test::value(text, cancelled) == 1);
  CHECK(test::value(text, R"(pixelmill_cpu_jobs_total{outcome="done"})") == 1);
  CHECK(test::value(text, client_closed) == 1);
  test::wait_until([&] { return open_fds(observer) == fds_before; });
  CHECK(open_fds(observer) == fds_before);
}

TEST_CASE("a request pipelined behind a running one is kept and answered next") {
  test::ServerFixture f;
  auto client = f.client();
  client.send_raw("GET /test/wait HTTP/1.1\r\nHost: x\r\n\r\n");
  test::wait_until([&] { return f.metric("pixelmill_cpu_busy_threads") == 1; });
  // Read by the disconnect watcher while /test/wait runs; must not be lost.
  client.send_raw("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  std::this_thread::sleep_for(100ms);
  f.open_gate();
  auto first = client.read_response();
  CHECK(first.result() == status::ok);
  CHECK(first.body() == "released");
  auto echo = client.read_response();
  CHECK(echo.result() == status::ok);
  CHECK(echo.body() == "3");
}
