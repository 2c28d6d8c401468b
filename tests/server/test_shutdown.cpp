// Graceful shutdown: in-process (Service::shutdown) and the real binary on SIGTERM.
#include <doctest/doctest.h>

#include <csignal>
#include <future>

#include "binary_service.hpp"
#include "server_fixture.hpp"
#include "wait_until.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
using test::http::field;
using test::http::status;

TEST_CASE("shutdown closes idle connections at once and lets an in-flight request finish") {
  test::ServerFixture f;
  auto idle = f.client();
  REQUIRE(idle.get("/healthz").result() == status::ok);
  auto busy = std::async(std::launch::async, [&] { return f.client().get("/test/wait"); });
  REQUIRE(test::wait_until([&] { return f.metric("pixelmill_cpu_busy_threads") == 1; }));

  auto stopping = std::async(std::launch::async, [&] { f.service.shutdown(); });
  CHECK(idle.closed_by_server(2s));  // idle keep-alive: closed without waiting
  CHECK(stopping.wait_for(200ms) == std::future_status::timeout);  // still draining
  f.open_gate();
  auto res = busy.get();
  CHECK(res.result() == status::ok);
  CHECK(res.body() == "released");
  CHECK_FALSE(res.keep_alive());  // "Connection: close" while draining
  CHECK(stopping.wait_for(5s) == std::future_status::ready);
}

TEST_CASE("/readyz answers 503 to a request that arrives while draining") {
  test::ServerFixture f;
  auto client = f.client();
  client.send_raw("GET /readyz HTTP/1.1\r\nHost: x\r\n");  // headers not finished yet
  // Give the server time to start reading this request: an idle connection (no
  // byte read yet) is closed by the drain instead. No metric marks the moment.
  std::this_thread::sleep_for(300ms);
  auto stopping = std::async(std::launch::async, [&] { f.service.shutdown(); });
  std::this_thread::sleep_for(200ms);  // the drain has begun; this request is in flight
  client.send_raw("\r\n");
  auto res = client.read_response();
  CHECK(res.result() == status::service_unavailable);
  CHECK(test::json_body(res).at("detail") == "The service is shutting down.");
  CHECK(res[field::retry_after] == "5");
  CHECK_FALSE(res.keep_alive());
  CHECK(stopping.wait_for(5s) == std::future_status::ready);
}

TEST_CASE("shutdown cancels what is left after server.drain_timeout") {
  auto settings = test::test_settings();
  settings.server.drain_timeout = 300ms;
  test::ServerFixture f(settings);
  auto busy = std::async(std::launch::async, [&] { return f.client().get("/test/wait"); });
  REQUIRE(test::wait_until([&] { return f.metric("pixelmill_cpu_busy_threads") == 1; }));
  const auto start = std::chrono::steady_clock::now();
  auto stopping = std::async(std::launch::async, [&] { f.service.shutdown(); });
  // The job itself cannot be interrupted; the drain gives up on it and moves on.
  std::this_thread::sleep_for(1s);
  f.open_gate();
  stopping.get();
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK_THROWS(busy.get());  // its connection was cancelled, no response
}

TEST_CASE("the binary drains an in-flight slow request on SIGTERM and exits 0") {
  auto [child, port] = test::start_binary({"--listen", "127.0.0.1:0", "--io-threads", "1",
                                           "--cpu-threads", "1", "--drain-timeout", "10s",
                                           "--data-dir", "/tmp/pixelmill-test-sigterm"});
  test::HttpClient client(port);
  REQUIRE(client.get("/healthz").result() == status::ok);

  // A request whose body is still arriving when the signal comes.
  client.send_raw("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
  std::this_thread::sleep_for(100ms);
  child.signal(SIGTERM);
  REQUIRE(child.wait_for_line("draining", 5s));
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(child.wait(0ms));  // still running: it waits for our request
  client.send_raw("67890");
  auto res = client.read_response();
  CHECK(res.result() == status::not_found);
  CHECK_FALSE(res.keep_alive());
  CHECK(child.wait(10s) == 0);
  CHECK(child.stdout_text().find("stopped") != std::string::npos);
}
