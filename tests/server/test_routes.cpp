// /healthz, /readyz, /metrics, 404/405 and problem+json, over real HTTP.
#include <doctest/doctest.h>

#include <regex>

#include "server_fixture.hpp"
#include "wait_until.hpp"

using namespace pixelmill;
using test::http::field;
using test::http::status;
using test::http::verb;

TEST_CASE("GET /healthz answers 200 JSON with a generated request id") {
  test::ServerFixture f;
  auto res = f.client().get("/healthz");
  CHECK(res.result() == status::ok);
  CHECK(res.body() == R"({"status":"ok"})");
  CHECK(res[field::content_type] == "application/json");
  CHECK(res[field::cache_control] == "no-store");
  CHECK(std::regex_match(std::string(res["X-Request-Id"]), std::regex("[0-9a-f]{16}")));
}

TEST_CASE("a plain client X-Request-Id is echoed, an unsafe one replaced") {
  test::ServerFixture f;
  auto client = f.client();
  auto kept = client.request(verb::get, "/healthz", {}, {{"X-Request-Id", "abc-123.x"}});
  CHECK(kept["X-Request-Id"] == "abc-123.x");
  auto replaced = client.request(verb::get, "/healthz", {}, {{"X-Request-Id", "bad id\"<>"}});
  CHECK(std::regex_match(std::string(replaced["X-Request-Id"]), std::regex("[0-9a-f]{16}")));
}

TEST_CASE("HEAD /healthz sends the headers of GET without a body") {
  test::ServerFixture f;
  auto client = f.client();
  test::http::request<test::http::empty_body> req{verb::head, "/healthz", 11};
  test::http::write(client.stream(), req);
  auto res = client.read_response(/*head=*/true);
  CHECK(res.result() == status::ok);
  CHECK(res[field::content_length] == "15");
  CHECK(res.body().empty());
}

TEST_CASE("GET /readyz is 200 normally and 503 while the CPU queue is full") {
  auto settings = test::test_settings();
  settings.runtime.cpu_threads = 1;
  settings.runtime.cpu_queue_length = 1;
  test::ServerFixture f(settings);
  auto ready = f.client().get("/readyz");
  CHECK(ready.result() == status::ok);
  CHECK(ready.body() == R"({"status":"ready","storage":"ok"})");

  auto waiting = f.occupy_cpu(2, 1);  // one running, one queued: full
  auto full = f.client().get("/readyz");
  CHECK(full.result() == status::service_unavailable);
  CHECK(full[field::content_type] == "application/problem+json");
  CHECK(test::json_body(full).at("detail") == "The CPU queue is full.");
  f.open_gate();
  for (auto& request : waiting) CHECK(request.get().body() == "released");
  CHECK(f.client().get("/readyz").result() == status::ok);
}

TEST_CASE("GET /metrics is Prometheus text with every contract series") {
  test::ServerFixture f;
  for (int i = 0; i < 3; ++i) REQUIRE(f.client().get("/healthz").result() == status::ok);
  auto res = f.client().get("/metrics");
  CHECK(res.result() == status::ok);
  CHECK(res[field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = res.body();
  for (const char* name :
       {"pixelmill_io_loop_lag_seconds", "pixelmill_io_stalls_total", "pixelmill_cpu_queue_depth",
        "pixelmill_cpu_queue_wait_seconds", "pixelmill_cpu_job_seconds",
        "pixelmill_cpu_busy_threads", "pixelmill_cpu_jobs_total", "pixelmill_http_requests_total",
        "pixelmill_http_request_duration_seconds", "pixelmill_http_connections_open",
        "pixelmill_http_connections_total", "pixelmill_pool_threads", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"}) {
    INFO(name);
    CHECK(text.find(std::string("# TYPE ") + name + " ") != std::string::npos);
  }
  CHECK(test::value(text, R"(pixelmill_http_requests_total{code="200",method="GET",route="/healthz"})") == 3);
  CHECK(test::value(text, R"(pixelmill_cpu_job_seconds_count{stage="decode"})") == 0);
  CHECK(test::value(text, R"(pixelmill_pool_threads{pool="cpu"})") == 2);
  CHECK(test::value(text, "process_resident_memory_bytes") > 1e6);
  CHECK(test::value(text, "process_open_fds") >= 4);
  CHECK(test::value(text, "process_start_time_seconds") > 1.7e9);
}

TEST_CASE("unknown path: 404 problem+json") {
  test::ServerFixture f;
  auto res = f.client().get("/nowhere?x=1");
  CHECK(res.result() == status::not_found);
  CHECK(res[field::content_type] == "application/problem+json");
  const auto body = test::json_body(res);
  CHECK(body.at("type") == "urn:pixelmill:problem:not-found");
  CHECK(body.at("title") == "Not Found");
  CHECK(body.at("status") == 404);
  CHECK(body.at("detail") == "No resource at this path.");
  CHECK(body.at("instance") == "/nowhere");
  CHECK(body.at("request_id").as_string() == std::string(res["X-Request-Id"]).c_str());
  CHECK(f.metric(R"(pixelmill_http_requests_total{code="404",method="GET",route="unmatched"})") == 1);
}

TEST_CASE("wrong method: 405 problem+json with Allow") {
  test::ServerFixture f;
  auto res = f.client().request(verb::delete_, "/healthz");
  CHECK(res.result() == status::method_not_allowed);
  CHECK(res[field::allow] == "GET, HEAD");
  const auto body = test::json_body(res);
  CHECK(body.at("type") == "urn:pixelmill:problem:method-not-allowed");
  CHECK(body.at("status") == 405);
  CHECK(body.at("detail") == "This resource does not support DELETE; allowed: GET, HEAD.");
  CHECK(f.metric(R"(pixelmill_http_requests_total{code="405",method="DELETE",route="/healthz"})") == 1);
}
