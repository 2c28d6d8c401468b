#include "pixelmill/server/http_metrics.hpp"

#include <string>

#include "pixelmill/runtime/runtime_metrics.hpp"

namespace pixelmill::server {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

HttpMetrics::HttpMetrics(runtime::MetricsRegistry& metrics)
    : requests_(BuildCounter()
                    .Name("pixelmill_http_requests_total")
                    .Help("HTTP requests answered, by route pattern, method and status code.")
                    .Register(metrics.registry())),
      duration_(BuildHistogram()
                    .Name("pixelmill_http_request_duration_seconds")
                    .Help("Time from a request's last header byte to its response being ready.")
                    .Register(metrics.registry())),
      connections_open_(BuildGauge()
                            .Name("pixelmill_http_connections_open")
                            .Help("Client connections currently open.")
                            .Register(metrics.registry())
                            .Add({})),
      connections_total_(BuildCounter()
                             .Name("pixelmill_http_connections_total")
                             .Help("Client connections accepted.")
                             .Register(metrics.registry())
                             .Add({})),
      connections_refused_(BuildCounter()
                               .Name("pixelmill_http_connections_refused_total")
                               .Help("Connections closed at once because server.max_connections "
                                     "were open.")
                               .Register(metrics.registry())
                               .Add({})) {}

void HttpMetrics::record_request(std::string_view route, std::string_view method, unsigned status,
                                 double seconds) {
  const std::string route_label(route);
  requests_
      .Add({{"route", route_label}, {"method", std::string(method)},
            {"code", std::to_string(status)}})
      .Increment();
  duration_.Add({{"route", route_label}}, runtime::RuntimeMetrics::latency_buckets())
      .Observe(seconds);
}

}  // namespace pixelmill::server
