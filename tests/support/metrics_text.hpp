#pragma once
// Reads one sample from Prometheus text exposition: `series` is the exact name and
// label set as serialized, e.g. pixelmill_cpu_jobs_total{outcome="rejected"}.

#include <optional>
#include <stdexcept>
#include <sstream>
#include <string>
#include <string_view>

namespace pixelmill::test {

inline std::optional<double> sample(const std::string& exposition, std::string_view series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    if (std::string_view(line).substr(0, space) == series) return std::stod(line.substr(space + 1));
  }
  return std::nullopt;
}

// The sample's value; throws (failing the test) when the series is absent.
inline double value(const std::string& exposition, std::string_view series) {
  if (auto found = sample(exposition, series)) return *found;
  throw std::runtime_error("no sample for " + std::string(series));
}

}  // namespace pixelmill::test
