#pragma once
// The real pixelmill binary serving on an ephemeral 127.0.0.1 port: started with
// the given flags, ready once it has logged "listening" (text or JSON format).

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace pixelmill::test {

struct BinaryService {
  ChildProcess process;
  std::uint16_t port = 0;
};

// `flags` should include "--listen 127.0.0.1:0"; the port is read from the log.
inline BinaryService start_binary(std::vector<std::string> flags, const ChildProcess::Env& env = {}) {
  flags.insert(flags.begin(), PIXELMILL_BINARY);
  BinaryService service{ChildProcess(std::move(flags), env)};
  const auto listening = service.process.wait_for_line("listening", std::chrono::seconds(10));
  REQUIRE_MESSAGE(listening, "no \"listening\" line; stderr: " << service.process.stderr_text());
  std::smatch port;  // text: "port=8080", JSON: "\"port\":8080"
  REQUIRE_MESSAGE(std::regex_search(*listening, port, std::regex(R"(\bport"?[=:]([0-9]+))")), *listening);
  service.port = static_cast<std::uint16_t>(std::stoi(port[1]));
  return service;
}

}  // namespace pixelmill::test
