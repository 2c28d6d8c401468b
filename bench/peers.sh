#!/usr/bin/env bash
# Issue 7: pixelmill against the sharp peer. Installs Node.js and the peer's npm
# packages when missing (into bench/peers/sharp/node_modules only), builds the
# benchmark, and prints the Markdown tables (bench/run puts them into BENCHMARKS.md).
#   bash bench/peers.sh [seconds per W1 row, default 30] [soak seconds, default 300]
# BUILD_DIR (default build/release) is the CMake build to use.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
soak=${2:-300}
build=${BUILD_DIR:-build/release}
rounds=$(( seconds >= 10 ? 3 : 1 ))

command -v node > /dev/null && command -v npm > /dev/null || .ci/install-deps packages nodejs npm >&2
[[ -d bench/peers/sharp/node_modules/sharp ]] ||
  (cd bench/peers/sharp && npm ci --no-audit --no-fund --loglevel=error >&2)
[[ -f "$build/CMakeCache.txt" ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j"$(nproc)" --target pixelmill peers > /dev/null

echo "pixelmill $("$build/server/pixelmill" --version | head -1); sharp $(cd bench/peers/sharp && node -p "const s=require('sharp'); s.versions.sharp + ' (libvips ' + s.versions.vips + ', ' + s.concurrency() + ' libvips thread(s) per image)'"); Node.js $(node --version); 1-min load average at the start: $(cut -d' ' -f1 /proc/loadavg)."
"$build/bench/peers" --seconds "$seconds" --rounds "$rounds" --soak-seconds "$soak"
