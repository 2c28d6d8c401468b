#include "pixelmill/server/service.hpp"

#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "health_routes.hpp"
#include "image_routes.hpp"
#include "pixelmill/server/image_metrics.hpp"
#include "pixelmill/storage/image_store.hpp"
#include "pixelmill/runtime/cpu_pool.hpp"
#include "pixelmill/runtime/io_pool.hpp"
#include "pixelmill/runtime/log.hpp"
#include "pixelmill/runtime/opencv_backend.hpp"
#include "pixelmill/runtime/runtime_metrics.hpp"
#include "pixelmill/runtime/starvation_monitor.hpp"
#include "server_state.hpp"
#include "session.hpp"
#include "static_routes.hpp"

namespace pixelmill::server {

namespace asio = boost::asio;

namespace {

// The route whose variants auth.sign_urls protects.
constexpr std::string_view signed_route = "/v1/images/{id}";

// Binds `state`'s acceptor and starts accepting on I/O context 0.
void listen_on(const std::shared_ptr<ServerState>& state, runtime::IoPool& io, const std::string& address,
               std::uint16_t port) {
  const asio::ip::tcp::endpoint endpoint{asio::ip::make_address(address), port};
  state->acceptor.emplace(io.context(0));
  state->acceptor->open(endpoint.protocol());
  state->acceptor->set_option(asio::socket_base::reuse_address(true));
  state->acceptor->bind(endpoint);
  state->acceptor->listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(io.context(0), run_listener(state), [](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      runtime::log_event(spdlog::level::critical, "listener failed", {{"error", e.what()}});
    }
  });
}

std::uint16_t port_of(const std::shared_ptr<ServerState>& state) {
  if (!state || !state->acceptor || !state->acceptor->is_open()) return 0;
  return state->acceptor->local_endpoint().port();
}

}  // namespace

struct Service::Parts {
  explicit Parts(const config::Settings& s)
      : settings(s),
        runtime_metrics(registry),
        cpu({s.runtime.cpu_threads, s.runtime.cpu_queue_length}, runtime_metrics),
        opencv(cpu),
        io(std::make_unique<runtime::IoPool>(s.runtime.io_threads, static_cast<int>(s.runtime.io_rt_priority))),
        offloader(cpu, *io, runtime_metrics, s.runtime.offload, s.runtime.job_deadline),
        monitor(std::make_unique<runtime::StarvationMonitor>(
            *io, runtime_metrics,
            runtime::MonitorOptions{s.runtime.heartbeat_period, s.runtime.stall_threshold})),
        state(std::make_shared<ServerState>(s.server, *io, offloader, registry)),
        store(s.storage.data_dir),
        cache(s.storage.data_dir, s.storage.cache_max_bytes),
        image_metrics(registry) {
    runtime_metrics.set_pool_sizes(io->size(), cpu.size(), cpu.queue_capacity());
    state->access = AccessPolicy(s.auth, std::string(signed_route));
    add_health_routes(*state, store);
    if (s.metrics.address.empty()) {
      add_metrics_route(state->router, registry, store);
    } else {
      // Same session code and limits, a router with /metrics only.
      metrics_state = std::make_shared<ServerState>(s.server, *io, offloader, registry);
      add_metrics_route(metrics_state->router, registry, store);
    }
    add_static_routes(state->router, s.server.playground);
    add_image_routes(state->router, {store, cache, source_limits(s.limits), s.limits.max_output_dimension,
                                     runtime_metrics, image_metrics});
    image_metrics.images_stored().Set(static_cast<double>(store.count()));
    if (const auto removed = store.cleanup_temp_files(); removed > 0) {
      runtime::log_event(spdlog::level::warn, "removed temp files left by a crash",
                         {runtime::log_number("files", static_cast<double>(removed))});
    }
  }

  static imaging::SourceLimits source_limits(const config::LimitsSettings& limits) {
    return {limits.max_source_pixels, limits.max_source_dimension};
  }

  // Every listener's state: the main one, then the metrics one when configured.
  std::vector<std::shared_ptr<ServerState>> states() const {
    std::vector<std::shared_ptr<ServerState>> out{state};
    if (metrics_state) out.push_back(metrics_state);
    return out;
  }

  void stop_pools() {
    monitor->stop();
    cpu.stop();  // queued jobs complete as cancelled; their callers are resumed
    io->stop();
  }

  config::Settings settings;
  runtime::MetricsRegistry registry;
  runtime::RuntimeMetrics runtime_metrics;
  runtime::CpuPool cpu;
  runtime::OpenCvBackendGuard opencv;
  std::unique_ptr<runtime::IoPool> io;
  runtime::Offloader offloader;
  std::unique_ptr<runtime::StarvationMonitor> monitor;
  std::shared_ptr<ServerState> state;
  std::shared_ptr<ServerState> metrics_state;  // null unless metrics.listen is set
  storage::ImageStore store;
  storage::VariantCache cache;
  ImageMetrics image_metrics;
  std::mutex lifecycle;
  bool started = false;
  bool stopped = false;
};

Service::Service(const config::Settings& settings) : parts_(std::make_unique<Parts>(settings)) {}

Service::~Service() {
  shutdown();
  // I/O objects die before their contexts; then the contexts, which destroys any
  // coroutine frame still suspended, while everything those frames reference lives.
  parts_->monitor.reset();
  for (const auto& state : parts_->states()) state->acceptor.reset();
  parts_->io.reset();
}

Router& Service::router() { return parts_->state->router; }
runtime::Offloader& Service::offloader() { return parts_->offloader; }
runtime::MetricsRegistry& Service::metrics() { return parts_->registry; }

void Service::start() {
  std::lock_guard lock(parts_->lifecycle);
  if (parts_->started) return;
  const auto& server = parts_->settings.server;
  const auto& metrics = parts_->settings.metrics;
  listen_on(parts_->state, *parts_->io, server.address, server.port);
  if (parts_->metrics_state) listen_on(parts_->metrics_state, *parts_->io, metrics.address, metrics.port);
  parts_->monitor->start();
  parts_->io->start();
  parts_->started = true;
  runtime::log_event(spdlog::level::info, "listening",
                     {{"address", server.address},
                      runtime::log_number("port", port()),
                      runtime::log_number("io_threads", parts_->io->size()),
                      runtime::log_number("cpu_threads", parts_->cpu.size()),
                      runtime::log_number("cpu_queue", static_cast<double>(parts_->cpu.queue_capacity()))});
  if (parts_->metrics_state) {
    runtime::log_event(spdlog::level::info, "metrics listening",
                       {{"address", metrics.address}, runtime::log_number("port", metrics_port())});
  }
}

std::uint16_t Service::port() const { return port_of(parts_->state); }

std::uint16_t Service::metrics_port() const { return port_of(parts_->metrics_state); }

void Service::shutdown() {
  std::lock_guard lock(parts_->lifecycle);
  if (parts_->stopped) return;
  parts_->stopped = true;
  if (!parts_->started) {
    parts_->stop_pools();
    return;
  }
  const auto states = parts_->states();
  const auto drain_timeout = parts_->settings.server.drain_timeout;
  runtime::log_event(spdlog::level::info, "draining",
                     {runtime::log_number("connections", static_cast<double>(parts_->state->sessions.size())),
                      runtime::log_number("drain_timeout_ms", static_cast<double>(drain_timeout.count()))});
  // Stage 1: stop accepting, make /readyz fail, close idle connections; requests in
  // flight finish and their connections close after the response.
  for (const auto& state : states) {
    state->draining.store(true);
    asio::post(parts_->io->context(0), [state] {
      boost::system::error_code ec;
      state->acceptor->close(ec);
    });
    state->sessions.emit(asio::cancellation_type::total);
  }
  for (const auto& state : states) {
    if (state->sessions.wait_empty(drain_timeout)) continue;
    // Stage 2: the drain timed out; cancel everything left, bounded.
    runtime::log_event(spdlog::level::warn, "drain timed out, cancelling",
                       {runtime::log_number("connections", static_cast<double>(state->sessions.size()))});
    state->sessions.emit(asio::cancellation_type::terminal);
    state->sessions.wait_empty(std::chrono::seconds(2));
  }
  parts_->stop_pools();
  runtime::log_event(spdlog::level::info, "stopped", {});
}

}  // namespace pixelmill::server
