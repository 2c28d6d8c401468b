#pragma once
// SIGTERM/SIGINT handling without async-signal-safety traps: the signals are blocked
// in the constructing thread before any other thread exists (threads inherit the
// mask), and one thread collects them synchronously with sigwait().

#include <csignal>

namespace pixelmill::runtime {

class ShutdownSignals {
 public:
  ShutdownSignals();   // blocks SIGINT and SIGTERM in this thread (and its future threads)
  int wait() const;    // returns the signal number that arrived

 private:
  sigset_t set_{};
};

}  // namespace pixelmill::runtime
