#pragma once
// The real service on an ephemeral 127.0.0.1 port, plus two test-only routes:
// GET /test/wait (a CPU job that blocks until the test releases it) and
// POST /test/echo (answers with the body's size).

#include <future>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "http_client.hpp"
#include "metrics_text.hpp"
#include "pixelmill/server/http_error.hpp"
#include "pixelmill/server/service.hpp"
#include "test_settings.hpp"
#include "wait_until.hpp"

namespace pixelmill::test {

struct ServerFixture {
  explicit ServerFixture(const config::Settings& settings = test_settings())
      : data_dir(settings.storage.data_dir), service(settings) {
    auto gate = release.get_future().share();
    service.router().add(
        http::verb::get, "/test/wait",
        [gate](server::RequestContext& ctx) -> boost::asio::awaitable<server::Response> {
          auto job = [gate] { gate.wait(); };
          co_await ctx.offloader.run(job);
          co_return server::make_response(ctx, http::status::ok, "released", "text/plain");
        });
    service.router().add(
        http::verb::post, "/test/echo",
        [](server::RequestContext& ctx) -> boost::asio::awaitable<server::Response> {
          co_return server::make_response(ctx, http::status::ok,
                                          std::to_string(ctx.request.body().size()), "text/plain");
        });
    service.start();
  }
  ~ServerFixture() {
    if (!released) release.set_value();
    service.shutdown();
    std::error_code ignored;
    std::filesystem::remove_all(data_dir, ignored);
  }

  void open_gate() {
    released = true;
    release.set_value();
  }
  HttpClient client() { return HttpClient(service.port()); }

  // Starts `count` GET /test/wait requests, each on its own connection, and waits
  // until `queued` of them sit in the CPU queue and the rest run. They finish after
  // open_gate(). Both counts: the queue depth alone can match while the first job
  // waits for its thread to wake, before the other requests have even arrived.
  std::vector<std::future<StringResponse>> occupy_cpu(int count, double queued) {
    std::vector<std::future<StringResponse>> requests;
    for (int i = 0; i < count; ++i) {
      requests.push_back(std::async(std::launch::async, [this] { return client().get("/test/wait"); }));
    }
    wait_until([&] {
      const std::string text = metrics();
      return value(text, "pixelmill_cpu_queue_depth") == queued &&
             value(text, "pixelmill_cpu_busy_threads") == count - queued;
    });
    return requests;
  }
  std::string metrics() { return client().get("/metrics").body(); }
  double metric(std::string_view series) { return value(metrics(), series); }

  std::filesystem::path data_dir;
  std::promise<void> release;
  bool released = false;
  server::Service service;
};

inline boost::json::object json_body(const StringResponse& res) {
  return boost::json::parse(res.body()).as_object();
}

}  // namespace pixelmill::test
