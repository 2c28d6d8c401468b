// Overload: five times the resize rate the CPU pool sustains, for 30 s, against the
// real binary. Excess work must be refused at once (503 + Retry-After, without
// queuing), accepted work must succeed, /healthz must stay fast, memory bounded, and
// the service must be back to normal the moment the load stops.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "load_support.hpp"
#include "temp_dir.hpp"
#include "wait_until.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::http::status;
using test::http::verb;

namespace {

constexpr const char* resize_target = "/v1/resize?w=200&format=jpeg&quality=80";

test::StringResponse resize(test::HttpClient& client, const std::string& photo) {
  return client.request(verb::post, resize_target, photo, {{"Content-Type", "image/jpeg"}});
}
// Two resizes running, two queued, each holding its upload and a decoded image at
// 1/8 scale, plus 16 request bodies being read: well under this. Documented in
// the README ("Security and limits").
constexpr double rss_bound_bytes = 512.0 * 1024 * 1024;

struct Outcomes {
  std::mutex mutex;
  std::vector<double> ok_ms, rejected_ms;
  int other = 0, rejected_without_retry_after = 0;

  void record(const test::StringResponse& res, double ms) {
    std::lock_guard lock(mutex);
    if (res.result() == status::ok) {
      ok_ms.push_back(ms);
    } else if (res.result() == status::service_unavailable) {
      rejected_ms.push_back(ms);
      if (res[test::http::field::retry_after] != "1") ++rejected_without_retry_after;
    } else {
      ++other;
    }
  }
};

double timed_ms(const std::function<void()>& call) {
  const auto start = Clock::now();
  call();
  return test::Millis(Clock::now() - start).count();
}

// Resizes per second with two clients back to back: what the pool sustains.
double sustained_rate(std::uint16_t port, const std::string& photo) {
  std::atomic<int> done{0};
  const auto end = Clock::now() + 4s;
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&] {
      test::HttpClient client(port);
      while (Clock::now() < end) {
        if (resize(client, photo).result() == status::ok) ++done;
      }
    });
  }
  for (auto& t : clients) t.join();
  return done / 4.0;
}

// `clients` keep-alive connections, each pacing itself so that together they send
// `rate` requests per second until `end` (a client whose answer is slow sends late).
void drive(std::uint16_t port, const std::string& photo, double rate, int clients, Clock::time_point end,
           Outcomes& outcomes) {
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(clients / rate));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      test::HttpClient client(port);
      auto next = Clock::now() + interval * c / clients;
      while (next < end) {
        std::this_thread::sleep_until(next);
        next += interval;
        test::StringResponse res;
        const double ms = timed_ms([&] { res = resize(client, photo); });
        outcomes.record(res, ms);
      }
    });
  }
  for (auto& t : threads) t.join();
}

struct Probe {
  std::vector<double> healthz_ms;
  double peak_rss = 0;
  int healthz_failures = 0;
};

// Every 50 ms: GET /healthz on its own connection; every 500 ms: the server's RSS.
void probe_until(std::uint16_t port, const std::atomic<bool>& stop, Probe& probe) {
  test::HttpClient client(port);
  for (int i = 0; !stop; ++i) {
    test::StringResponse res;
    probe.healthz_ms.push_back(timed_ms([&] { res = client.get("/healthz"); }));
    if (res.result() != status::ok) ++probe.healthz_failures;
    if (i % 10 == 0) {
      probe.peak_rss = std::max(probe.peak_rss, test::value(client.get("/metrics").body(),
                                                            "process_resident_memory_bytes"));
    }
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace

TEST_CASE("5x the sustainable resize rate: excess refused at once, the rest served, healthz fast") {
  test::TempDir data("pixelmill-overload");
  auto server = test::start_quiet_binary({"--data-dir", data.path().string(),
                                    "--io-threads", "1", "--cpu-threads", "2", "--cpu-queue-length", "2"});
  const std::string photo = test::read_testdata("photos/Wine_by_Jakkub_Mede.jpg");
  const double capacity = sustained_rate(server.port, photo);
  REQUIRE(capacity > 0);
  const double done_before = test::server_metric(server.port, R"(pixelmill_cpu_jobs_total{outcome="done"})");

  Outcomes outcomes;
  Probe probe;
  std::atomic<bool> stop{false};
  std::thread prober([&] { probe_until(server.port, stop, probe); });
  const auto duration = test::seconds_from_env("PIXELMILL_OVERLOAD_SECONDS", 30s);
  drive(server.port, photo, 5 * capacity, 16, Clock::now() + duration, outcomes);
  stop = true;
  prober.join();

  const auto ok = static_cast<double>(outcomes.ok_ms.size());
  const auto rejected = static_cast<double>(outcomes.rejected_ms.size());
  const double ok_p50 = test::percentile(outcomes.ok_ms, 0.5);
  const double rejected_p99 = test::percentile(outcomes.rejected_ms, 0.99);
  const double healthz_p99 = test::percentile(probe.healthz_ms, 0.99);
  MESSAGE("capacity " << capacity << " img/s; offered " << 5 * capacity << "/s for " << duration.count()
                      << " s: " << ok << " served (p50 " << ok_p50 << " ms), " << rejected
                      << " refused (p99 " << rejected_p99 << " ms); healthz p50 "
                      << test::percentile(probe.healthz_ms, 0.5) << " ms p99 " << healthz_p99
                      << " ms max " << test::percentile(probe.healthz_ms, 1.0) << " ms; peak RSS "
                      << probe.peak_rss / 1048576 << " MiB");

  CHECK(outcomes.other == 0);  // only 200 and 503
  CHECK(ok > 0);
  CHECK(rejected > ok);  // 5x the capacity: most offered work is excess
  CHECK(outcomes.rejected_without_retry_after == 0);
  // "At once": a refusal waits for no job, so it is faster than a typical success.
  CHECK(rejected_p99 < ok_p50);
  CHECK(probe.healthz_failures == 0);
  CHECK(healthz_p99 < 100);
  CHECK(probe.peak_rss < rss_bound_bytes);

  const std::string text = test::HttpClient(server.port).get("/metrics").body();
  CHECK(test::value(text, R"(pixelmill_cpu_jobs_total{outcome="rejected"})") == rejected);
  CHECK(test::value(text, R"(pixelmill_cpu_jobs_total{outcome="done"})") == done_before + ok);
  CHECK(test::value(text, R"(pixelmill_http_requests_total{code="503",method="POST",route="/v1/resize"})") ==
        rejected);

  // Back to normal at once: nothing queued, nothing running, the next resize served.
  CHECK(test::value(text, "pixelmill_cpu_queue_depth") == 0);
  CHECK(test::value(text, "pixelmill_cpu_busy_threads") == 0);
  test::HttpClient after(server.port);
  CHECK(resize(after, photo).result() == status::ok);
}
