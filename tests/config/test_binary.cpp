// Runs the real pixelmill executable as a child process: what an operator sees
// for --help, --version and invalid settings (exit status 2, one stderr line).

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "binary_service.hpp"
#include "child_process.hpp"
#include "pixelmill/config/load.hpp"

namespace {

struct Outcome {
  int exit_code = -1;  // -1: killed by a signal (or by the timeout)
  std::string out;
  std::string err;
};

// ChildProcess drops inherited PIXELMILL_* variables: only `env` reaches the binary.
Outcome run_pixelmill(std::vector<std::string> args, const pixelmill::test::ChildProcess::Env& env = {}) {
  args.insert(args.begin(), PIXELMILL_BINARY);
  pixelmill::test::ChildProcess child(std::move(args), env);
  // Every case here should exit at once; a child still running means it started serving.
  const auto exit_code = child.wait(std::chrono::seconds(10));
  CHECK_MESSAGE(child.finished(), "pixelmill did not exit within 10 s");
  return {exit_code.value_or(-1), child.stdout_text(), child.stderr_text()};
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
  const auto o = run_pixelmill({}, {{"PIXELMILL_RUNTIME_OFFLOAD", "bogus"}});
  check_one_error_line(o);
  CHECK_CONTAINS(o.err, "PIXELMILL_RUNTIME_OFFLOAD (runtime.offload)");
  CHECK_CONTAINS(o.err, "\"bogus\"");
}

TEST_CASE("an unknown environment variable of a known section exits 2") {
  const auto o = run_pixelmill({}, {{"PIXELMILL_SERVER_LISTN", "127.0.0.1:1"}});
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

namespace {

// The child's environment as the kernel holds it (after any exec of its own).
std::string environment_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(all.begin(), all.end(), '\0', '\n');
  return "\n" + all;
}

bool kernel_offers_thp() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  return std::getline(in, line) && line.find("[never]") == std::string::npos;
}

}  // namespace

TEST_CASE("the binary re-executes itself once with glibc.malloc.hugetlb=1, unless told not to") {
  const auto data = std::filesystem::temp_directory_path() / ("pixelmill-thp-" + std::to_string(::getpid()));
  const std::vector<std::string> base{"--listen", "127.0.0.1:0", "--data-dir", data.string()};
  const pixelmill::test::ChildProcess::Env no_tunables{{"GLIBC_TUNABLES", ""}};
  SUBCASE("default") {
    auto service = pixelmill::test::start_binary(base, no_tunables);
    const std::string env = environment_of(service.process.pid());
    const auto line = service.process.wait_for_line("malloc huge pages", std::chrono::seconds(5));
    REQUIRE(line);
    if (kernel_offers_thp()) {
      CHECK_CONTAINS(env, "\nGLIBC_TUNABLES=glibc.malloc.hugetlb=1\n");
      CHECK_CONTAINS(*line, "on=true");
      CHECK_CONTAINS(*line, "GLIBC_TUNABLES sets glibc.malloc.hugetlb=1");
    } else {
      CHECK_CONTAINS(env, "\nGLIBC_TUNABLES=\n");
      CHECK_CONTAINS(*line, "on=false");
    }
    // One start-up: the process before the exec logs nothing.
    const std::string& out = service.process.stdout_text();
    std::size_t starts = 0;
    for (auto at = out.find("malloc huge pages"); at != std::string::npos; at = out.find("malloc huge pages", at + 1)) ++starts;
    CHECK(starts == 1);
  }
  SUBCASE("--malloc-huge-pages false") {
    auto flags = base;
    flags.insert(flags.end(), {"--malloc-huge-pages", "false"});
    auto service = pixelmill::test::start_binary(flags, no_tunables);
    CHECK_CONTAINS(environment_of(service.process.pid()), "\nGLIBC_TUNABLES=\n");
    const auto line = service.process.wait_for_line("malloc huge pages", std::chrono::seconds(5));
    REQUIRE(line);
    CHECK_CONTAINS(*line, "on=false");
    CHECK_CONTAINS(*line, "runtime.malloc_huge_pages = false");
  }
  SUBCASE("the user's own value is kept") {
    auto service = pixelmill::test::start_binary(base, {{"GLIBC_TUNABLES", "glibc.malloc.hugetlb=0"}});
    CHECK_CONTAINS(environment_of(service.process.pid()), "\nGLIBC_TUNABLES=glibc.malloc.hugetlb=0\n");
    const auto line = service.process.wait_for_line("malloc huge pages", std::chrono::seconds(5));
    REQUIRE(line);
    CHECK_CONTAINS(*line, "on=false");
  }
  std::filesystem::remove_all(data);
}
