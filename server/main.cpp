// pixelmill: settings in, service up, wait for SIGTERM/SIGINT, drain, exit 0.
// `pixelmill sign ...` prints a signed URL instead (auth_sign_command.hpp).
#include <cstdio>
#include <exception>
#include <iostream>
#include <string_view>
#include <vector>

#include "pixelmill/config/load.hpp"
#include "pixelmill/runtime/allocator.hpp"
#include "pixelmill/runtime/available_cores.hpp"
#include "pixelmill/runtime/log.hpp"
#include "pixelmill/runtime/signals.hpp"
#include "pixelmill/server/auth_sign_command.hpp"
#include "pixelmill/server/service.hpp"

#include <thread>

int main(int argc, char** argv) {
  using namespace pixelmill;
  if (argc > 1 && std::string_view(argv[1]) == "sign") {
    const std::vector<std::string_view> args(argv + 2, argv + argc);
    return server::run_sign_command(args, config::process_env(), std::cout, std::cerr);
  }
  config::LoadResult loaded;
  try {
    loaded = config::load_from_process(argc, argv);
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "pixelmill: %s\n", e.what());
    return 2;
  }
  if (loaded.action == config::Action::help) {
    std::fputs(config::help_text().c_str(), stdout);
    return 0;
  }
  if (loaded.action == config::Action::version) {
    std::printf("pixelmill %.*s\n", static_cast<int>(config::version().size()), config::version().data());
    return 0;
  }
  // Before any thread starts, and before signals are blocked (the mask survives exec).
  const runtime::HugePagesState huge_pages = runtime::prepare_huge_pages(loaded.settings.runtime.malloc_huge_pages, argv);
  const auto settings = config::resolve_auto(loaded.settings, runtime::available_cores());
  runtime::configure_logging(settings.log);
  const runtime::ShutdownSignals signals;  // before any thread starts
  if (!runtime::tune_allocator()) runtime::log_event(spdlog::level::warn, "allocator policy refused by malloc", {});
  runtime::log_event(spdlog::level::info, "malloc huge pages",
                     {{"on", huge_pages.on ? "true" : "false"}, {"reason", huge_pages.reason}});
  try {
    server::Service service(settings);
    service.start();
    const int signal = signals.wait();
    runtime::log_event(spdlog::level::info, "shutdown signal", {runtime::log_number("signal", signal)});
    service.shutdown();
  } catch (const std::exception& e) {
    runtime::log_event(spdlog::level::critical, "fatal", {{"error", e.what()}});
    return 1;
  }
  return 0;
}
