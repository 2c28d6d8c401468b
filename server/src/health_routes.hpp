#pragma once

#include "server_state.hpp"

namespace pixelmill::server {

// GET /healthz: 200 while an I/O thread can answer at all.
// GET /readyz:  503 while draining or while the CPU queue is full (send traffic elsewhere).
// GET /metrics: Prometheus text format 0.0.4 from the process's registry.
void add_health_routes(ServerState& state, runtime::MetricsRegistry& registry);

}  // namespace pixelmill::server
