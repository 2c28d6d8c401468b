// 10,000 simultaneous idle keep-alive connections against the real binary: held,
// new requests still answered, the one past server.max_connections refused cleanly,
// and closing them gives the fds back and the memory back to the allocator (a second
// wave reuses it).
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "load_support.hpp"
#include "temp_dir.hpp"
#include "wait_until.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int max_connections = 10000;
// Per idle connection: the session's coroutine frame, its socket and timer, an
// empty read buffer. Documented in the README ("Security and limits").
constexpr double bytes_per_connection_bound = 32 * 1024;

// The fd limit is inherited by the server we spawn: both need 10,000 and change.
bool raise_fd_limit(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_max < wanted) return false;
  limit.rlim_cur = limit.rlim_max;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// A plain connected socket that sends nothing: the cheapest idle client.
int connect_idle(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

std::vector<double> healthz_latencies(test::HttpClient& client, int count) {
  std::vector<double> ms;
  for (int i = 0; i < count; ++i) {
    const auto start = Clock::now();
    REQUIRE(client.get("/healthz").result() == test::http::status::ok);
    ms.push_back(test::Millis(Clock::now() - start).count());
  }
  return ms;
}

}  // namespace

TEST_CASE("10,000 idle keep-alive connections: held, still serving, the next refused, all freed") {
  if (!raise_fd_limit(max_connections + 200)) {
    MESSAGE("skipped: the hard fd limit is below " << max_connections + 200);
    return;
  }
  test::TempDir data("pixelmill-idle");
  auto server = test::start_quiet_binary({"--data-dir", data.path().string(),
                                    "--io-threads", "2", "--max-connections", std::to_string(max_connections)});
  test::HttpClient observer(server.port);  // connection 1
  auto metric = [&](std::string_view series) { return test::value(observer.get("/metrics").body(), series); };
  const double fds_before = metric("process_open_fds");
  const double rss_before = metric("process_resident_memory_bytes");
  const double healthz_p99_before = test::percentile(healthz_latencies(observer, 200), 0.99);

  std::vector<int> idle;
  for (int i = 0; i < max_connections - 2; ++i) idle.push_back(connect_idle(server.port));
  REQUIRE(test::wait_until([&] { return metric("pixelmill_http_connections_open") == max_connections - 1; }, 30s));
  const double rss_held = metric("process_resident_memory_bytes");
  const double per_connection = (rss_held - rss_before) / static_cast<double>(idle.size());

  test::HttpClient last(server.port);  // connection 10,000: still served
  const double healthz_p99_held = test::percentile(healthz_latencies(last, 200), 0.99);
  test::HttpClient refused(server.port);  // connection 10,001
  CHECK(refused.closed_by_server(5s));
  MESSAGE(idle.size() << " idle connections: " << per_connection << " bytes of RSS each; healthz p99 "
                      << healthz_p99_before << " ms before, " << healthz_p99_held << " ms with them open");
  CHECK(per_connection < bytes_per_connection_bound);
  CHECK(metric("pixelmill_http_connections_open") == max_connections);
  CHECK(metric("pixelmill_http_connections_refused_total") == 1);
  const double fds_held = metric("process_open_fds");
  CHECK(fds_held >= fds_before + max_connections - 2);

  for (const int fd : idle) ::close(fd);
  idle.clear();
  CHECK(test::wait_until([&] { return metric("pixelmill_http_connections_open") == 2; }, 30s));
  // `last` is still open; the refused one never counted.
  CHECK(test::wait_until([&] { return metric("process_open_fds") <= fds_before + 1; }, 30s));
  // The heap trimmer hands free pages back (on a CPU thread: give it a moment). Not
  // all: asio pools each socket's reactor state, and those small survivors pin
  // pages. So the real test of "freed" is a second wave, which must reuse the
  // memory instead of growing.
  CHECK(test::wait_until([&] { return metric("process_resident_memory_bytes") < rss_held; }, 10s));
  const double rss_closed = metric("process_resident_memory_bytes");
  for (int i = 0; i < max_connections - 2; ++i) idle.push_back(connect_idle(server.port));
  REQUIRE(test::wait_until([&] { return metric("pixelmill_http_connections_open") == max_connections; }, 30s));
  const double rss_second_wave = metric("process_resident_memory_bytes");
  for (const int fd : idle) ::close(fd);
  MESSAGE("fds: " << fds_before << " before, " << fds_held << " held; RSS (MiB): " << rss_before / 1048576
                  << " before, " << rss_held / 1048576 << " held, " << rss_closed / 1048576
                  << " after closing, " << rss_second_wave / 1048576 << " with a second 10,000");
  CHECK(rss_second_wave < rss_held + 4.0 * 1024 * 1024);
}
