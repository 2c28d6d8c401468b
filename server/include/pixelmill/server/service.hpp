#pragma once
// The whole service, assembled: metrics registry, I/O pool, CPU pool (with OpenCV's
// parallel backend on it), starvation monitor, offloader, router and the HTTP
// listener. main() builds one; integration tests build one on an ephemeral port.

#include <cstdint>
#include <memory>

#include "pixelmill/config/settings.hpp"
#include "pixelmill/runtime/metrics_registry.hpp"
#include "pixelmill/runtime/offload.hpp"
#include "pixelmill/server/router.hpp"

namespace pixelmill::server {

class Service {
 public:
  // Settings with "auto" values already resolved (config::resolve_auto).
  explicit Service(const config::Settings& settings);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Routes may be added until start().
  Router& router();
  runtime::Offloader& offloader();
  runtime::MetricsRegistry& metrics();

  // Binds and listens (throws on failure), then starts the I/O threads.
  void start();
  std::uint16_t port() const;
  // The metrics.listen listener's port; 0 when /metrics is on the main listener.
  std::uint16_t metrics_port() const;

  // Graceful, two-stage, idempotent: stop accepting and turn /readyz to 503; let
  // in-flight requests finish within server.drain_timeout while idle keep-alive
  // connections close; then cancel whatever is left and stop the pools.
  void shutdown();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace pixelmill::server
