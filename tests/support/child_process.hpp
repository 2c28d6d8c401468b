#pragma once
// Runs a program (the real pixelmill binary) as a child process with its stdout and
// stderr captured, for tests of exit codes, messages, logs and signal handling.
//
// The child gets the test's environment minus every PIXELMILL_* variable (so a
// developer's own settings cannot leak into a test), plus the explicit `env` pairs;
// it starts with no blocked signals and default dispositions for the usual stop
// signals, whatever the test runner itself has blocked or ignored.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;

namespace pixelmill::test {

class ChildProcess {
 public:
  using Env = std::vector<std::pair<std::string, std::string>>;
  using Clock = std::chrono::steady_clock;

  // argv[0] is the program's path (no PATH search). Throws when it cannot be run.
  explicit ChildProcess(std::vector<std::string> argv, const Env& env = {}) {
    if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
    auto environment = child_environment(env);
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    if (::pipe2(err, O_CLOEXEC) != 0) {
      const int error = errno;
      ::close(out[0]), ::close(out[1]);
      throw std::system_error(error, std::generic_category(), "pipe");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none, stop_signals;
    sigemptyset(&none);
    sigemptyset(&stop_signals);
    for (const int s : {SIGHUP, SIGINT, SIGPIPE, SIGTERM}) sigaddset(&stop_signals, s);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &stop_signals);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const int error = ::posix_spawn(&pid_, argv[0].c_str(), &actions, &attributes,
                                    pointers(argv).data(), pointers(environment).data());
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]), ::close(err[1]);
    if (error != 0) {
      ::close(out[0]), ::close(err[0]);
      pid_ = -1;
      throw std::system_error(error, std::generic_category(), "cannot run " + argv[0]);
    }
    out_ = out[0], err_ = err[0];
    // Only our read ends: the child's stdout and stderr stay blocking.
    ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
    ::fcntl(err_, F_SETFL, ::fcntl(err_, F_GETFL) | O_NONBLOCK);
  }

  ChildProcess(ChildProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        out_(std::exchange(other.out_, -1)),
        err_(std::exchange(other.err_, -1)),
        status_(other.status_),
        stdout_(std::move(other.stdout_)),
        stderr_(std::move(other.stderr_)) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // A child still running is killed: a failed test must not leave a server behind.
  ~ChildProcess() {
    if (pid_ > 0 && !reap()) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    close_fd(out_), close_fd(err_);
  }

  void signal(int number) {
    if (pid_ > 0 && !reap()) ::kill(pid_, number);
  }

  // Reads stdout until a complete line containing `needle` arrives (earlier lines
  // count too); returns that line, or nullopt on timeout or once stdout is closed.
  std::optional<std::string> wait_for_line(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto end = Clock::now() + timeout;
    std::size_t scanned = 0;
    for (;;) {
      for (std::size_t nl; (nl = stdout_.find('\n', scanned)) != std::string::npos; scanned = nl + 1) {
        if (std::string_view(stdout_).substr(scanned, nl - scanned).find(needle) != std::string_view::npos) {
          return stdout_.substr(scanned, nl - scanned);
        }
      }
      if (out_ < 0 || Clock::now() >= end) return std::nullopt;
      pump(end);
    }
  }

  // Waits for the exit, capturing output meanwhile; returns the exit code, or
  // nullopt on timeout (see finished()) or when a signal ended the child.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto end = Clock::now() + timeout;
    while (!reap()) {
      if (Clock::now() >= end) return std::nullopt;
      pump(std::min(end, Clock::now() + std::chrono::milliseconds(10)));  // waitpid cannot be polled
    }
    // Exited: what it wrote is in the pipes already.
    drain(out_, stdout_), drain(err_, stderr_);
    if (!WIFEXITED(*status_)) return std::nullopt;
    return WEXITSTATUS(*status_);
  }

  // True once the child has ended (and was reaped by wait or signal).
  bool finished() const { return status_.has_value(); }

  const std::string& stdout_text() const { return stdout_; }
  const std::string& stderr_text() const { return stderr_; }
  pid_t pid() const { return pid_; }

 private:
  // The test's environment without PIXELMILL_* and without the names `env` sets, then `env`.
  static std::vector<std::string> child_environment(const Env& env) {
    std::vector<std::string> result;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string_view entry(*e);
      const auto name = entry.substr(0, entry.find('='));
      const bool replaced = std::any_of(env.begin(), env.end(), [&](const auto& p) { return p.first == name; });
      if (!name.starts_with("PIXELMILL_") && !replaced) result.emplace_back(entry);
    }
    for (const auto& [name, value] : env) result.push_back(name + "=" + value);
    return result;
  }

  static std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> result;
    for (auto& s : strings) result.push_back(s.data());
    result.push_back(nullptr);
    return result;
  }

  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  bool reap() {
    if (status_ || pid_ <= 0) return status_.has_value();
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == pid_) status_ = status;
    return status_.has_value();
  }

  // Waits until output arrives (or `until`), then reads whatever is available.
  // Closed pipes are skipped by poll, which then just sleeps.
  void pump(Clock::time_point until) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(std::max<long long>(left.count(), 0))) <= 0) return;  // timeout or EINTR
    if (fds[0].revents != 0) drain(out_, stdout_);
    if (fds[1].revents != 0) drain(err_, stderr_);
  }

  // Reads until the pipe is empty; closes it at EOF.
  static void drain(int& fd, std::string& sink) {
    char chunk[4096];
    while (fd >= 0) {
      const ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n > 0) {
        sink.append(chunk, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
      } else {
        close_fd(fd);  // EOF (or a broken pipe): nothing more will come
      }
    }
  }

  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  std::optional<int> status_;
  std::string stdout_, stderr_;
};

}  // namespace pixelmill::test
