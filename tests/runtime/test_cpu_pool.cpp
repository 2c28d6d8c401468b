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

// The outer caller finishes its own task first and then must not just sleep: the
// outer task still running on a pool thread runs a nested loop whose helper chunk
// nobody else can take (the other pool thread is held by a job).
TEST_CASE("a parallel_for caller runs nested loops' helper chunks while it waits") {
  Fixture f;
  CpuPool pool({.threads = 2, .queue_length = 1}, f.metrics);
  REQUIRE(pool.try_submit(f.blocking_job()));
  REQUIRE(test::wait_until([&] { return f.counter("pixelmill_cpu_busy_threads") == 1; }));

  // Usually the caller claims outer task 0; if the pool thread wins that race the
  // roles swap, and the thread that finished first must still be the one helping.
  std::thread::id outer_first_thread;
  std::atomic<bool> outer_second_started{false};
  std::atomic<bool> inner_second_started{false};
  std::thread::id inner_second_thread;
  bool inner_first_saw_second = false;
  pool.parallel_for(2, [&](int outer, int) {
    if (outer == 0) {
      outer_first_thread = std::this_thread::get_id();
      // Let the other thread claim outer task 1 before this one could.
      REQUIRE(test::wait_until([&] { return outer_second_started.load(); }));
      return;
    }
    outer_second_started = true;
    pool.parallel_for(2, [&](int inner, int) {
      if (inner == 1) {
        inner_second_thread = std::this_thread::get_id();
        inner_second_started = true;
        return;
      }
      // Without the caller's help this waits out the limit and then runs task 1 itself.
      inner_first_saw_second = test::wait_until([&] { return inner_second_started.load(); },
                                                std::chrono::seconds(3));
    });
  });
  f.release.set_value();
  CHECK(inner_first_saw_second);
  CHECK(inner_second_thread == outer_first_thread);
}

TEST_CASE("run_queued_helper runs a waiting loop's chunk on the calling thread, once") {
  Fixture f;
  CpuPool pool({.threads = 2, .queue_length = 1}, f.metrics);
  // Both pool threads held: the loop's helper chunk stays queued.
  REQUIRE(pool.try_submit(f.blocking_job()));
  REQUIRE(pool.try_submit(f.blocking_job()));
  REQUIRE(test::wait_until([&] { return f.counter("pixelmill_cpu_busy_threads") == 2; }));
  CHECK_FALSE(pool.run_queued_helper());

  std::atomic<bool> first_started{false}, second_done{false};
  std::thread::id second_thread;
  bool ran = false, ran_again = true;
  std::thread other([&] {
    REQUIRE(test::wait_until([&] { return first_started.load(); }));
    ran = pool.run_queued_helper();
    ran_again = pool.run_queued_helper();
  });
  pool.parallel_for(2, [&](int task, int) {
    if (task == 1) {
      second_thread = std::this_thread::get_id();
      second_done = true;
      return;
    }
    first_started = true;
    CHECK(test::wait_until([&] { return second_done.load(); }));
  });
  const std::thread::id other_id = other.get_id();
  other.join();
  f.release.set_value();
  CHECK(ran);
  CHECK_FALSE(ran_again);
  CHECK(second_thread == other_id);
}
