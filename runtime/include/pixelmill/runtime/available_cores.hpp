#pragma once
// How many cores this process may really use: the CPUs it is allowed to run on
// (sched_getaffinity: taskset, Docker --cpuset-cpus) capped by a cgroup v2 CPU quota
// (Docker --cpus, Kubernetes limits.cpu), rounded up. hardware_concurrency() sees
// only the machine, so in a 2-CPU container on a 64-core host "auto" would start 64
// CPU threads that the quota then throttles in turns.

#include <optional>
#include <string_view>

namespace pixelmill::runtime {

// The cores for "auto" thread counts; at least 1.
unsigned available_cores();

// A cgroup v2 cpu.max line ("max 100000" or "QUOTA PERIOD") as whole cores, rounded
// up; nullopt for no limit or text that is not a cpu.max line.
std::optional<unsigned> cores_from_cpu_max(std::string_view cpu_max);

}  // namespace pixelmill::runtime
