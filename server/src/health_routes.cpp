#include "health_routes.hpp"

#include <prometheus/gauge.h>

#include "pixelmill/server/http_error.hpp"

namespace pixelmill::server {
namespace {
constexpr std::string_view json_type = "application/json";
}

void add_health_routes(ServerState& state, storage::ImageStore& store) {
  state.router.add(http::verb::get, "/healthz",
                   [](RequestContext& ctx) -> boost::asio::awaitable<Response> {
                     auto res = make_response(ctx, http::status::ok, R"({"status":"ok"})", json_type);
                     res.set(http::field::cache_control, "no-store");
                     co_return res;
                   });
  state.router.add(
      http::verb::get, "/readyz", [&state, &store](RequestContext& ctx) -> boost::asio::awaitable<Response> {
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
        // Room for one more upload of the largest size clears a "full" seen earlier.
        const bool full = store.recheck_full(state.settings.max_body_bytes);
        auto res = make_response(ctx, http::status::ok,
                                 full ? R"({"status":"ready","storage":"full"})"
                                      : R"({"status":"ready","storage":"ok"})",
                                 json_type);
        res.set(http::field::cache_control, "no-store");
        co_return res;
      });
}

void add_metrics_route(Router& router, runtime::MetricsRegistry& registry, storage::ImageStore& store) {
  auto& storage_full = prometheus::BuildGauge()
                           .Name("pixelmill_storage_full")
                           .Help("1 while uploads fail for lack of disk space (507), else 0.")
                           .Register(registry.registry())
                           .Add({});
  router.add(http::verb::get, "/metrics",
             [&registry, &store, &storage_full](RequestContext& ctx) -> boost::asio::awaitable<Response> {
               storage_full.Set(store.full() ? 1 : 0);
               auto res = make_response(ctx, http::status::ok, registry.serialize(),
                                        runtime::MetricsRegistry::content_type);
               res.set(http::field::cache_control, "no-store");
               co_return res;
             });
}

}  // namespace pixelmill::server
