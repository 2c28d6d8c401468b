#include "health_routes.hpp"

#include "pixelmill/server/http_error.hpp"

namespace pixelmill::server {
namespace {
constexpr std::string_view json_type = "application/json";
}

void add_health_routes(ServerState& state, runtime::MetricsRegistry& registry) {
  state.router.add(http::verb::get, "/healthz",
                   [](RequestContext& ctx) -> boost::asio::awaitable<Response> {
                     auto res = make_response(ctx, http::status::ok, R"({"status":"ok"})", json_type);
                     res.set(http::field::cache_control, "no-store");
                     co_return res;
                   });
  state.router.add(
      http::verb::get, "/readyz", [&state](RequestContext& ctx) -> boost::asio::awaitable<Response> {
        if (state.draining.load()) {
          throw HttpError(http::status::service_unavailable, "not-ready",
                          "The service is shutting down.", "draining",
                          {{http::field::retry_after, "5"}});
        }
        if (ctx.offloader.cpu_pool().saturated()) {
          throw HttpError(http::status::service_unavailable, "not-ready",
                          "The CPU queue is full.", "cpu queue saturated",
                          {{http::field::retry_after, "1"}});
        }
        auto res = make_response(ctx, http::status::ok, R"({"status":"ready"})", json_type);
        res.set(http::field::cache_control, "no-store");
        co_return res;
      });
  state.router.add(http::verb::get, "/metrics",
                   [&registry](RequestContext& ctx) -> boost::asio::awaitable<Response> {
                     auto res = make_response(ctx, http::status::ok, registry.serialize(),
                                              runtime::MetricsRegistry::content_type);
                     res.set(http::field::cache_control, "no-store");
                     co_return res;
                   });
}

}  // namespace pixelmill::server
