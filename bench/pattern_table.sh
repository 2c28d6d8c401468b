#!/usr/bin/env bash
# The pattern table (issue 4): runs bench/pattern_table against the real binary, one
# row per runtime.offload mode plus an idle baseline, prints the Markdown table and
# draws docs/pattern-table.png from the per-sample CSVs.
#   bash bench/pattern_table.sh [seconds per mode, default 15]
# Each mode's time is split into interleaved rounds of about 5 s.
# BUILD_DIR (default build/release) is the CMake build to use; it is configured and
# built when needed. CSVs go to $BUILD_DIR/bench/pattern-table/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
build=${BUILD_DIR:-build/release}
csv_dir="$build/bench/pattern-table"
rounds=$(( seconds >= 10 ? seconds / 5 : 1 ))

command -v gnuplot > /dev/null || .ci/install-deps packages gnuplot-nox >&2
[[ -f "$build/CMakeCache.txt" ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j"$(nproc)" --target pixelmill pattern_table > /dev/null

load_at_start=$(cut -d' ' -f1 /proc/loadavg)
"$build/bench/pattern_table" --seconds "$seconds" --rounds "$rounds" --io-threads 2 --cpu-threads 2 --csv-dir "$csv_dir"
subtitle="2 I/O + 2 CPU threads on $(nproc) cores, $seconds s per mode, 1-min load average $load_at_start at the start"
mkdir -p docs
gnuplot -e "csv_dir='$csv_dir'; out='docs/pattern-table.png'; subtitle='$subtitle'; seconds=$seconds; rounds=$rounds" bench/pattern_table.gp
