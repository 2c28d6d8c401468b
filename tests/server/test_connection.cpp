// Connection handling over real sockets: keep-alive, pipelining, limits, timeouts,
// Expect: 100-continue, overload and the connection cap.
#include <doctest/doctest.h>

#include <thread>

#include "server_fixture.hpp"
#include "wait_until.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
using test::http::field;
using test::http::status;
using test::http::verb;

namespace {

config::Settings tight_settings() {
  auto s = test::test_settings();
  s.server.max_body_bytes = 1024;
  s.server.max_header_bytes = 2048;
  s.server.header_timeout = 300ms;
  s.server.idle_timeout = 500ms;
  return s;
}

std::string problem_type(const test::StringResponse& res) {
  return std::string(test::json_body(res).at("type").as_string());
}

}  // namespace

TEST_CASE("ten requests share one keep-alive connection") {
  test::ServerFixture f;
  auto observer = f.client();
  const double before = test::value(observer.get("/metrics").body(), "pixelmill_http_connections_total");
  auto client = f.client();
  for (int i = 0; i < 10; ++i) {
    auto res = client.get("/healthz");
    REQUIRE(res.result() == status::ok);
    CHECK(res.keep_alive());
  }
  const std::string after = observer.get("/metrics").body();
  CHECK(test::value(after, "pixelmill_http_connections_total") == before + 1);
  CHECK(test::value(after, "pixelmill_http_connections_open") == 2);
}

TEST_CASE("pipelined requests are answered in order") {
  test::ServerFixture f;
  auto client = f.client();
  client.send_raw(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  CHECK(client.read_response().result() == status::ok);
  CHECK(client.read_response().result() == status::not_found);
  auto echo = client.read_response();
  CHECK(echo.result() == status::ok);
  CHECK(echo.body() == "3");
}

TEST_CASE("a Content-Length over the limit gets 413 before the body is sent") {
  test::ServerFixture f(tight_settings());
  auto client = f.client();
  client.send_raw("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n");
  auto res = client.read_response();
  CHECK(res.result() == status::payload_too_large);
  CHECK(problem_type(res) == "urn:pixelmill:problem:body-too-large");
  CHECK(test::json_body(res).at("detail") ==
        "Request body exceeds 1024 bytes (server.max_body_bytes).");
  CHECK_FALSE(res.keep_alive());
  CHECK(client.closed_by_server(3s));
}

TEST_CASE("a chunked body over the limit gets 413") {
  test::ServerFixture f(tight_settings());
  auto client = f.client();
  const std::string chunk(1000, 'x');
  client.send_raw("POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3e8\r\n" + chunk + "\r\n3e8\r\n" + chunk + "\r\n0\r\n\r\n");
  auto res = client.read_response();
  CHECK(res.result() == status::payload_too_large);
}

TEST_CASE("a body at the limit is accepted") {
  test::ServerFixture f(tight_settings());
  auto res = f.client().request(verb::post, "/test/echo", std::string(1024, 'x'));
  CHECK(res.result() == status::ok);
  CHECK(res.body() == "1024");
}

TEST_CASE("headers over the limit get 431") {
  test::ServerFixture f(tight_settings());
  auto client = f.client();
  client.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(3000, 'a') + "\r\n\r\n");
  auto res = client.read_response();
  CHECK(res.result() == status::request_header_fields_too_large);
  CHECK(problem_type(res) == "urn:pixelmill:problem:headers-too-large");
}

TEST_CASE("malformed HTTP gets 400 problem+json and the connection closes") {
  test::ServerFixture f;
  auto client = f.client();
  client.send_raw("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n");
  auto res = client.read_response();
  CHECK(res.result() == status::bad_request);
  CHECK(problem_type(res) == "urn:pixelmill:problem:malformed-request");
  CHECK(client.closed_by_server(3s));
}

TEST_CASE("a client that sends half a header and stops is disconnected at the header timeout") {
  test::ServerFixture f(tight_settings());
  auto client = f.client();
  const auto start = std::chrono::steady_clock::now();
  client.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  CHECK(client.closed_by_server(5s));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 3s);
}

TEST_CASE("an idle keep-alive connection is closed at the idle timeout") {
  test::ServerFixture f(tight_settings());
  auto client = f.client();
  REQUIRE(client.get("/healthz").result() == status::ok);
  const auto start = std::chrono::steady_clock::now();
  CHECK(client.closed_by_server(5s));
  CHECK(std::chrono::steady_clock::now() - start >= 400ms);
}

TEST_CASE("Expect: 100-continue is answered before the body is sent") {
  test::ServerFixture f;
  auto client = f.client();
  client.send_raw("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  "Expect: 100-continue\r\n\r\n");
  auto interim = client.read_response();
  CHECK(interim.result() == status::continue_);
  client.send_raw("hello");
  auto res = client.read_response();
  CHECK(res.result() == status::ok);
  CHECK(res.body() == "5");
}

TEST_CASE("a full CPU queue answers 503 with Retry-After at once") {
  auto settings = test::test_settings();
  settings.runtime.cpu_threads = 1;
  settings.runtime.cpu_queue_length = 1;
  test::ServerFixture f(settings);
  auto waiting = f.occupy_cpu(2, 1);  // one running, one queued: full
  auto refused = f.client().get("/test/wait");
  CHECK(refused.result() == status::service_unavailable);
  CHECK(refused[field::retry_after] == "1");
  CHECK(problem_type(refused) == "urn:pixelmill:problem:overloaded");
  f.open_gate();
  for (auto& request : waiting) CHECK(request.get().result() == status::ok);
  const std::string text = f.metrics();
  CHECK(test::value(text, R"(pixelmill_cpu_jobs_total{outcome="rejected"})") == 1);
  CHECK(test::value(text, R"(pixelmill_cpu_jobs_total{outcome="done"})") == 2);
  CHECK(test::value(text, R"(pixelmill_http_requests_total{code="503",method="GET",route="/test/wait"})") == 1);
}

TEST_CASE("past server.max_connections new connections are closed at once") {
  auto settings = test::test_settings();
  settings.server.max_connections = 3;
  test::ServerFixture f(settings);
  std::vector<std::unique_ptr<test::HttpClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<test::HttpClient>(f.service.port()));
    REQUIRE(held.back()->get("/healthz").result() == status::ok);
  }
  auto extra = f.client();
  CHECK(extra.closed_by_server(3s));
  const std::string text = held.front()->get("/metrics").body();
  CHECK(test::value(text, "pixelmill_http_connections_refused_total") == 1);
  CHECK(test::value(text, "pixelmill_http_connections_open") == 3);
  held.pop_back();  // a slot frees up: new connections are served again
  CHECK(test::wait_until([&] {
    try {
      return f.client().get("/healthz").result() == status::ok;
    } catch (const std::exception&) {
      return false;  // refused while the closed slot is being released
    }
  }));
}
