#pragma once

#include "pixelmill/storage/image_store.hpp"
#include "server_state.hpp"

namespace pixelmill::server {

// GET /healthz: 200 while an I/O thread can answer at all.
// GET /readyz:  503 while draining or while the CPU queue is full (send traffic elsewhere).
//               A full store is reported ("storage":"full") but stays ready: reads
//               still work, and with a shared volume every replica is full at once,
//               so failing readiness would turn a full disk into a total outage.
void add_health_routes(ServerState& state, storage::ImageStore& store);

// GET /metrics: Prometheus text format 0.0.4 from the process's registry, with
//               pixelmill_storage_full refreshed at scrape time. On the main router,
//               or on the metrics.listen listener's own router.
void add_metrics_route(Router& router, runtime::MetricsRegistry& registry, storage::ImageStore& store);

}  // namespace pixelmill::server
