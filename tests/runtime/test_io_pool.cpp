// The I/O pool's threads: named, indexed, and in SCHED_RR when runtime.io_rt_priority
// asks for it and the process may (else at normal priority, still serving).
#include <doctest/doctest.h>

#include <pthread.h>
#include <sched.h>

#include <future>
#include <string>
#include <thread>

#include <boost/asio/post.hpp>

#include "pixelmill/runtime/io_pool.hpp"

using namespace pixelmill;

namespace {

struct ThreadView {
  int policy = -1;  // without SCHED_RESET_ON_FORK, which sched_getscheduler ORs in
  int priority = -1;
  int index = -2;
  std::string name;
};

ThreadView view_from(runtime::IoPool& pool, unsigned index) {
  std::promise<ThreadView> seen;
  boost::asio::post(pool.context(index), [&seen] {
    ThreadView v;
    v.policy = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
    sched_param param{};
    sched_getparam(0, &param);
    v.priority = param.sched_priority;
    v.index = runtime::IoPool::current_thread_index();
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    v.name = name;
    seen.set_value(v);
  });
  return seen.get_future().get();
}

// Whether this process may use SCHED_RR at all (root, CAP_SYS_NICE or RLIMIT_RTPRIO),
// found out on a thread of its own.
bool realtime_allowed() {
  bool allowed = false;
  std::thread([&allowed] {
    const sched_param param{.sched_priority = 1};
    allowed = sched_setscheduler(0, SCHED_RR, &param) == 0;
  }).join();
  return allowed;
}

}  // namespace

TEST_CASE("io pool: threads are named pm-io-N, know their index, and run at normal priority by default") {
  runtime::IoPool pool(2);
  pool.start();
  for (unsigned i = 0; i < 2; ++i) {
    const ThreadView v = view_from(pool, i);
    CHECK(v.name == "pm-io-" + std::to_string(i));
    CHECK(v.index == static_cast<int>(i));
    CHECK(v.policy == SCHED_OTHER);
  }
  CHECK(pool.realtime_threads() == 0);
  CHECK(runtime::IoPool::current_thread_index() == -1);
  pool.stop();
}

TEST_CASE("io pool: io_rt_priority puts every I/O thread in SCHED_RR when allowed, else it still serves") {
  const bool allowed = realtime_allowed();
  INFO("SCHED_RR allowed for this process: " << allowed);
  runtime::IoPool pool(2, 3);
  pool.start();
  // Settled when start() returns, before any thread has run a handler.
  CHECK(pool.realtime_threads() == (allowed ? 2u : 0u));
  for (unsigned i = 0; i < 2; ++i) {
    const ThreadView v = view_from(pool, i);  // answering at all: the thread serves
    CHECK(v.index == static_cast<int>(i));
    CHECK(v.policy == (allowed ? SCHED_RR : SCHED_OTHER));
    CHECK(v.priority == (allowed ? 3 : 0));
  }
  pool.stop();
}

TEST_CASE("io pool: a thread started from a real-time I/O thread begins at normal priority") {
  if (!realtime_allowed()) {
    MESSAGE("SCHED_RR not allowed here: nothing to inherit, case skipped");
    return;
  }
  runtime::IoPool pool(1, 2);
  pool.start();
  std::promise<int> child_policy;
  boost::asio::post(pool.context(0), [&child_policy] {
    std::thread([&child_policy] { child_policy.set_value(sched_getscheduler(0)); }).join();
  });
  CHECK(child_policy.get_future().get() == SCHED_OTHER);
  pool.stop();
}
