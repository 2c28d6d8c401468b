// The core count behind "auto" thread counts: CPU affinity capped by a cgroup quota.
#include <doctest/doctest.h>

#include <sched.h>

#include <thread>

#include "pixelmill/runtime/available_cores.hpp"

using pixelmill::runtime::available_cores;
using pixelmill::runtime::cores_from_cpu_max;

TEST_CASE("cgroup v2 cpu.max: whole cores, rounded up; no limit is nullopt") {
  CHECK_FALSE(cores_from_cpu_max("max 100000"));
  CHECK(cores_from_cpu_max("200000 100000") == 2u);
  CHECK(cores_from_cpu_max("150000 100000") == 2u);  // --cpus 1.5: two threads, throttled
  CHECK(cores_from_cpu_max("50000 100000") == 1u);   // never 0
  CHECK(cores_from_cpu_max("400000 50000") == 8u);
  CHECK_FALSE(cores_from_cpu_max(""));
  CHECK_FALSE(cores_from_cpu_max("200000"));
  CHECK_FALSE(cores_from_cpu_max("200000 0"));
  CHECK_FALSE(cores_from_cpu_max("2e5 100000"));
}

TEST_CASE("available cores: at least one, at most the CPUs this process may run on") {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  CHECK(available_cores() >= 1u);
  CHECK(available_cores() <= static_cast<unsigned>(CPU_COUNT(&set)));
}
