// The CPU pool's queue bound and its dropping of unstarted jobs, at pool level.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "metrics_text.hpp"
#include "pixelmill/runtime/cpu_pool.hpp"
#include "wait_until.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
using runtime::CpuPool;
using runtime::JobFate;

namespace {

struct Fixture {
  runtime::MetricsRegistry registry;
  runtime::RuntimeMetrics metrics{registry};
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};

  CpuPool::Job blocking_job() {
    CpuPool::Job job;
    job.fn = [this](JobFate fate) {
      if (fate != JobFate::run) return;
      gate.wait();
      ++ran;
    };
    return job;
  }
  double counter(const char* series) { return test::value(registry.serialize(), series); }
};

}  // namespace

TEST_CASE("the (M + queue + 1)-th job is rejected at once") {
  Fixture f;
  CpuPool pool({.threads = 2, .queue_length = 3}, f.metrics);
  for (int i = 0; i < 5; ++i) CHECK(pool.try_submit(f.blocking_job()));
  const auto before = std::chrono::steady_clock::now();
  CHECK_FALSE(pool.try_submit(f.blocking_job()));
  CHECK(std::chrono::steady_clock::now() - before < 100ms);  // refused, not queued
  CHECK(f.counter(R"(pixelmill_cpu_jobs_total{outcome="rejected"})") == 1);
  f.release.set_value();
  CHECK(test::wait_until([&] { return f.ran == 5; }));
}

TEST_CASE("a job whose deadline passes in the queue is dropped, never run") {
  Fixture f;
  CpuPool pool({.threads = 1, .queue_length = 4}, f.metrics);
  REQUIRE(pool.try_submit(f.blocking_job()));
  std::atomic<bool> late_ran{false};
  std::promise<JobFate> fate;
  CpuPool::Job late;
  late.deadline = CpuPool::Clock::now() + 20ms;
  late.fn = [&](JobFate f) {
    if (f == JobFate::run) late_ran = true;
    fate.set_value(f);
  };
  REQUIRE(pool.try_submit(std::move(late)));
  std::this_thread::sleep_for(100ms);
  f.release.set_value();
  CHECK(fate.get_future().get() == JobFate::expired);
  CHECK_FALSE(late_ran);
  CHECK(f.counter(R"(pixelmill_cpu_jobs_total{outcome="cancelled"})") == 1);
}

TEST_CASE("a job cancelled by its requester before it starts is dropped, never run") {
  Fixture f;
  CpuPool pool({.threads = 1, .queue_length = 4}, f.metrics);
  REQUIRE(pool.try_submit(f.blocking_job()));
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> ran{false};
  std::promise<JobFate> fate;
  CpuPool::Job job;
  job.cancelled = cancelled;
  job.fn = [&](JobFate f) {
    if (f == JobFate::run) ran = true;
    fate.set_value(f);
  };
  REQUIRE(pool.try_submit(std::move(job)));
  cancelled->store(true);
  f.release.set_value();
  CHECK(fate.get_future().get() == JobFate::cancelled);
  CHECK_FALSE(ran);
}

TEST_CASE("queue depth, wait and busy threads are exported") {
  Fixture f;
  CpuPool pool({.threads = 1, .queue_length = 4}, f.metrics);
  REQUIRE(pool.try_submit(f.blocking_job()));
  REQUIRE(pool.try_submit(f.blocking_job()));
  CHECK(test::wait_until([&] { return f.counter("pixelmill_cpu_busy_threads") == 1; }));
  CHECK(f.counter("pixelmill_cpu_queue_depth") == 1);
  CHECK(pool.queue_depth() == 1);
  f.release.set_value();
  pool.stop();
  CHECK(f.counter("pixelmill_cpu_queue_depth") == 0);
  CHECK(f.counter("pixelmill_cpu_busy_threads") == 0);
  CHECK(f.counter("pixelmill_cpu_queue_wait_seconds_count") == 2);
}

TEST_CASE("parallel_for covers every index once, from any thread") {
  Fixture f;
  CpuPool pool({.threads = 2, .queue_length = 1}, f.metrics);
  std::vector<std::atomic<int>> hits(1000);
  pool.parallel_for(1000, [&](int begin, int end) {
    for (int i = begin; i < end; ++i) ++hits[i];
  });
  for (auto& h : hits) REQUIRE(h == 1);
  CHECK_THROWS_WITH(pool.parallel_for(10, [](int begin, int) {
                      if (begin == 7) throw std::runtime_error("stripe 7");
                    }),
                    "stripe 7");
}
