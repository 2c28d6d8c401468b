#pragma once
// A service under benchmark (the real pixelmill binary, or a peer such as the sharp
// server) as a child process listening on 127.0.0.1 on a port of its choosing: started,
// its port read from the line it prints when it listens, its output drained by a thread
// of its own (an undrained pipe would block the service's logging), stopped with
// SIGTERM on destruction.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.hpp"

namespace pixelmill::bench {

class ServiceProcess {
 public:
  // `ready` is a substring of the line printed once listening; `port_pattern` a regex
  // whose first group is the port on that line.
  ServiceProcess(std::vector<std::string> argv, std::string ready, std::string port_pattern) {
    std::promise<std::pair<std::uint16_t, pid_t>> started;
    auto ready_future = started.get_future();
    owner_ = std::thread([this, argv = std::move(argv), ready = std::move(ready),
                          pattern = std::move(port_pattern), started = std::move(started)]() mutable {
      own(std::move(argv), ready, pattern, started);
    });
    try {
      std::tie(port_, pid_) = ready_future.get();  // own() sets a value or an exception
    } catch (...) {
      stop_ = true;
      owner_.join();
      throw;
    }
  }

  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  ~ServiceProcess() {
    stop_ = true;
    owner_.join();
  }

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  void own(std::vector<std::string> argv, const std::string& ready, const std::string& pattern,
           std::promise<std::pair<std::uint16_t, pid_t>>& started) {
    std::optional<test::ChildProcess> process;
    try {
      const std::string name = argv.front();
      // GLIBC_TUNABLES emptied: a benchmark that runs with huge pages for malloc
      // (runtime/allocator.hpp) does not pass them on; each service makes its own choice.
      process.emplace(std::move(argv), test::ChildProcess::Env{{"GLIBC_TUNABLES", ""}});
      const auto line = process->wait_for_line(ready, std::chrono::seconds(20));
      std::smatch match;
      if (!line || !std::regex_search(*line, match, std::regex(pattern))) {
        throw std::runtime_error(name + " printed no listening line; stderr: " + process->stderr_text());
      }
      started.set_value({static_cast<std::uint16_t>(std::stoi(match[1])), process->pid()});
    } catch (...) {
      started.set_exception(std::current_exception());
      return;  // ~ChildProcess kills a child that is still running
    }
    while (!stop_) process->wait(std::chrono::milliseconds(100));
    process->signal(SIGTERM);
    if (process->wait(std::chrono::seconds(30)) != 0) std::fprintf(stderr, "a benchmarked service did not exit 0\n");
  }

  std::thread owner_;
  std::atomic<bool> stop_{false};
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace pixelmill::bench
