#!/usr/bin/env bash
# The six libFuzzer targets for 20 s each (tests/fuzz/run builds them with clang in
# build/fuzz first): any crash, sanitizer report, leak, timeout or out-of-memory fails,
# and the reproducer's path is printed. The longer run is `tests/fuzz/run 1800`.
set -euo pipefail
exec "$(dirname "$0")/../fuzz/run" 20
