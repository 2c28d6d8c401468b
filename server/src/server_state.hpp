#pragma once
// State shared by the listener and every session. Sessions hold it by shared_ptr,
// so a coroutine frame destroyed late (at io_context teardown) never dangles.

#include <atomic>
#include <cstddef>
#include <optional>

#include <boost/asio/ip/tcp.hpp>

#include "pixelmill/config/settings.hpp"
#include "pixelmill/runtime/io_pool.hpp"
#include "pixelmill/runtime/metrics_registry.hpp"
#include "pixelmill/runtime/offload.hpp"
#include "pixelmill/runtime/task_group.hpp"
#include "pixelmill/server/http_metrics.hpp"
#include "auth.hpp"
#include "heap_trimmer.hpp"
#include "pixelmill/server/router.hpp"

namespace pixelmill::server {

struct ServerState {
  ServerState(const config::ServerSettings& settings, runtime::IoPool& io,
              runtime::Offloader& offloader, runtime::MetricsRegistry& registry)
      : settings(settings), io(io), offloader(offloader), metrics(registry),
        trimmer(offloader.cpu_pool()) {}

  config::ServerSettings settings;
  runtime::IoPool& io;
  runtime::Offloader& offloader;
  HttpMetrics metrics;
  Router router;
  AccessPolicy access;  // open unless auth.* says otherwise
  runtime::TaskGroup sessions;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> open_connections{0};
  HeapTrimmer trimmer;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor;  // lives on I/O context 0
};

}  // namespace pixelmill::server
