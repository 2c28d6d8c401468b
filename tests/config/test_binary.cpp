// Runs the real pixelmill executable as a child process: what an operator sees
// for --help, --version and invalid settings (exit status 2, one stderr line).

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pixelmill/config/load.hpp"

extern char** environ;

namespace {

struct Outcome {
  int exit_code = -1;  // -1: killed by a signal (or by the timeout)
  std::string out;
  std::string err;
};

// The parent's environment without PIXELMILL_* (so the developer's own settings
// cannot leak into a test), plus `extra` ("NAME=value").
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!std::string_view(*e).starts_with("PIXELMILL_")) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Reads both pipes until the child closes them or the deadline passes.
bool drain(int out_fd, int err_fd, Outcome& outcome, std::chrono::steady_clock::time_point deadline) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&outcome.out, &outcome.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const auto n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;  // poll() ignores negative descriptors
        --open_fds;
      }
    }
  }
  return true;
}

Outcome run_pixelmill(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
  Outcome outcome;
  int out_pipe[2];
  int err_pipe[2];
  REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);

  std::vector<std::string> argv_strings = {PIXELMILL_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  auto env_strings = child_environment(extra_env);
  auto argv = pointers(argv_strings);
  auto envp = pointers(env_strings);
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, PIXELMILL_BINARY, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  REQUIRE_MESSAGE(spawned == 0, "cannot run " << PIXELMILL_BINARY);

  // Every case here should exit at once; a child still running means it started serving.
  const bool finished = drain(out_pipe[0], err_pipe[0], outcome, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  if (!finished) ::kill(pid, SIGKILL);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK_MESSAGE(finished, "pixelmill did not exit within 10 s");
  if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
  return outcome;
}

// A configuration error is reported as exactly one line on stderr.
void check_one_error_line(const Outcome& o) {
  CHECK(o.exit_code == 2);
  CHECK_MESSAGE(std::count(o.err.begin(), o.err.end(), '\n') == 1, o.err);
  CHECK_MESSAGE(o.err.ends_with('\n'), o.err);
  CHECK_MESSAGE(o.err.starts_with("pixelmill: "), o.err);
}

#define CHECK_CONTAINS(text, part) CHECK_MESSAGE((text).find(part) != std::string::npos, (text))

}  // namespace

TEST_CASE("pixelmill --version prints the version and exits 0") {
  const auto o = run_pixelmill({"--version"});
  CHECK(o.exit_code == 0);
  CHECK_CONTAINS(o.out, "pixelmill " + std::string(pixelmill::config::version()));
  CHECK(run_pixelmill({"-V"}).exit_code == 0);
}

TEST_CASE("pixelmill --help lists the flags and exits 0") {
  const auto o = run_pixelmill({"--help"});
  CHECK(o.exit_code == 0);
  CHECK_CONTAINS(o.out, "--listen");
  CHECK_CONTAINS(o.out, "--set");
}

TEST_CASE("an invalid flag value exits 2 with one line naming key and value") {
  const auto o = run_pixelmill({"--io-threads", "abc"});
  check_one_error_line(o);
  CHECK_CONTAINS(o.err, "io_threads");
  CHECK_CONTAINS(o.err, "\"abc\"");
}

TEST_CASE("an invalid environment variable exits 2 naming it") {
  const auto o = run_pixelmill({}, {"PIXELMILL_RUNTIME_OFFLOAD=bogus"});
  check_one_error_line(o);
  CHECK_CONTAINS(o.err, "PIXELMILL_RUNTIME_OFFLOAD (runtime.offload)");
  CHECK_CONTAINS(o.err, "\"bogus\"");
}

TEST_CASE("an unknown environment variable of a known section exits 2") {
  const auto o = run_pixelmill({}, {"PIXELMILL_SERVER_LISTN=127.0.0.1:1"});
  check_one_error_line(o);
  CHECK_CONTAINS(o.err, "PIXELMILL_SERVER_LISTN");
}

TEST_CASE("a config file with an unknown key exits 2 naming it") {
  const auto file = std::filesystem::temp_directory_path() /
                    ("pixelmill-test-binary-" + std::to_string(::getpid()) + ".toml");
  std::ofstream(file) << "[runtime]\nio_threads = 1\nio_thread = 2\n";
  const auto o = run_pixelmill({"--config", file.string()});
  std::filesystem::remove(file);
  check_one_error_line(o);
  CHECK_CONTAINS(o.err, "runtime.io_thread = 2: unknown key");
}

TEST_CASE("an invalid listen address exits 2") {
  const auto o = run_pixelmill({"--listen", "999.1.1.1:80"});
  check_one_error_line(o);
  CHECK_CONTAINS(o.err, "server.listen");
  CHECK_CONTAINS(o.err, "999.1.1.1:80");
}
