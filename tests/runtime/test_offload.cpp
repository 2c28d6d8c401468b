// co_await offloader.run(job): where jobs run, where callers resume, and how
// results, exceptions, overload, deadlines and cancellation come back.
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>

#include "runtime_fixture.hpp"
#include "wait_until.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using runtime::CpuPool;
using runtime::IoPool;

namespace {

struct Threads {
  int job_cpu = -2, job_io = -2, resumed_io = -2;
};

asio::awaitable<Threads> where_things_run(runtime::Offloader& offloader) {
  Threads t;
  auto job = [&t] {
    t.job_io = IoPool::current_thread_index();
    return CpuPool::current_thread_index();
  };
  t.job_cpu = co_await offloader.run(job);
  t.resumed_io = IoPool::current_thread_index();
  co_return t;
}

asio::awaitable<int> throwing_job(runtime::Offloader& offloader) {
  auto job = []() -> int { throw std::runtime_error("boom in job"); };
  co_return co_await offloader.run(job);
}

asio::awaitable<void> wait_for(runtime::Offloader& offloader, std::shared_future<void> gate) {
  auto job = [gate] { gate.wait(); };
  co_await offloader.run(job);
}

asio::awaitable<void> record_run(runtime::Offloader& offloader, std::atomic<bool>& ran,
                                 CpuPool::Clock::time_point deadline) {
  auto job = [&ran] { ran = true; };
  co_await offloader.run(job, deadline);
}

// One CPU thread, held by a job until unblock(): later jobs wait in the queue.
struct BlockedPool : test::RuntimeFixture {
  BlockedPool() : RuntimeFixture(config::OffloadMode::cpu_pool, {.threads = 1, .queue_length = 2}) {
    io.start();
    blocker = asio::co_spawn(io.context(0), wait_for(offloader, release.get_future().share()),
                             asio::use_future);
  }
  ~BlockedPool() {
    if (blocker.valid()) unblock();  // a failed check must not leave the thread held
  }
  void unblock() {
    release.set_value();
    blocker.get();
  }
  std::promise<void> release;
  std::future<void> blocker;
};

}  // namespace

TEST_CASE("cpu_pool: the job runs on a CPU thread, the caller resumes on its I/O thread") {
  test::RuntimeFixture f;
  f.io.start();
  const Threads t = f.run(where_things_run(f.offloader));
  CHECK(t.job_cpu >= 0);
  CHECK(t.job_io == -1);
  CHECK(t.resumed_io == 0);
  CHECK(f.value(R"(pixelmill_cpu_jobs_total{outcome="done"})") == 1);
}

TEST_CASE("io_pool and inline modes run the job on an I/O thread") {
  for (auto mode : {config::OffloadMode::io_pool, config::OffloadMode::inline_}) {
    test::RuntimeFixture f(mode);
    f.io.start();
    const Threads t = f.run(where_things_run(f.offloader));
    CHECK(t.job_cpu == -1);
    CHECK(t.job_io == 0);
    CHECK(t.resumed_io == 0);
  }
}

TEST_CASE("a job's exception is rethrown in the caller") {
  test::RuntimeFixture f;
  f.io.start();
  CHECK_THROWS_WITH_AS(f.run(throwing_job(f.offloader)), "boom in job", std::runtime_error);
  CHECK(f.value(R"(pixelmill_cpu_jobs_total{outcome="failed"})") == 1);
}

TEST_CASE("a full queue fails the call at once with Overloaded") {
  test::RuntimeFixture f(config::OffloadMode::cpu_pool, {.threads = 1, .queue_length = 1});
  f.io.start();
  std::promise<void> release;
  auto gate = release.get_future().share();
  auto first = asio::co_spawn(f.io.context(0), wait_for(f.offloader, gate), asio::use_future);
  auto second = asio::co_spawn(f.io.context(0), wait_for(f.offloader, gate), asio::use_future);
  REQUIRE(test::wait_until([&] { return f.cpu.queue_depth() == 1; }));
  CHECK_THROWS_AS(f.run(wait_for(f.offloader, gate)), runtime::Overloaded);
  release.set_value();
  first.get();
  second.get();
  CHECK(f.value(R"(pixelmill_cpu_jobs_total{outcome="rejected"})") == 1);
  CHECK(f.value(R"(pixelmill_cpu_jobs_total{outcome="done"})") == 2);
}

TEST_CASE("a job past its deadline before it starts never runs; the caller gets DeadlineExceeded") {
  BlockedPool f;
  std::atomic<bool> ran{false};
  auto late = asio::co_spawn(f.io.context(0),
                             record_run(f.offloader, ran, CpuPool::Clock::now() + 30ms),
                             asio::use_future);
  std::this_thread::sleep_for(150ms);
  f.unblock();
  CHECK_THROWS_AS(late.get(), runtime::DeadlineExceeded);
  CHECK_FALSE(ran);
  CHECK(f.value(R"(pixelmill_cpu_jobs_total{outcome="cancelled"})") == 1);
}

TEST_CASE("cancelling the awaiting coroutine drops its queued job unrun") {
  BlockedPool f;
  std::atomic<bool> ran{false};
  asio::cancellation_signal signal;
  auto cancelled = asio::co_spawn(
      f.io.context(0), record_run(f.offloader, ran, CpuPool::Clock::time_point::max()),
      asio::bind_cancellation_slot(signal.slot(), asio::use_future));
  REQUIRE(test::wait_until([&] { return f.cpu.queue_depth() == 1; }));
  asio::post(f.io.context(0), [&] { signal.emit(asio::cancellation_type::terminal); });
  // The caller resumes at once, while the job is still queued behind the blocker.
  CHECK_THROWS_AS(cancelled.get(), runtime::JobCancelled);
  f.unblock();
  REQUIRE(test::wait_until([&] { return f.cpu.queue_depth() == 0; }));
  f.cpu.stop();
  CHECK_FALSE(ran);
  CHECK(f.value(R"(pixelmill_cpu_jobs_total{outcome="cancelled"})") == 1);
}
