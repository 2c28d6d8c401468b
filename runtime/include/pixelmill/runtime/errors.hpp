#pragma once
// Why an offloaded job did not produce a result. The server maps each to an HTTP
// status (503 + Retry-After, 504, 499-like close); the runtime knows nothing of HTTP.

#include <stdexcept>

namespace pixelmill::runtime {

// The CPU queue was full: the job was refused at once instead of queuing unboundedly.
class Overloaded : public std::runtime_error {
 public:
  Overloaded() : std::runtime_error("cpu queue full") {}
};

// The job's deadline passed before a CPU thread could start it; it never ran.
class DeadlineExceeded : public std::runtime_error {
 public:
  DeadlineExceeded() : std::runtime_error("job deadline passed before it started") {}
};

// The requester went away, or the service is shutting down: the caller stops
// waiting; a job not yet started is dropped.
class JobCancelled : public std::runtime_error {
 public:
  JobCancelled() : std::runtime_error("job cancelled: requester gone or shutting down") {}
};

}  // namespace pixelmill::runtime
