#!/usr/bin/env bash
# Browser test of the playground page: a real server, Debian's Chromium driven
# headless by playwright-core (tests/e2e/playground/playground.mjs). Uploads a photo
# through the page, changes the width, checks the variant shown and the health
# panel, and saves a screenshot to build/playground.png; to refresh the one the
# README shows, set PLAYGROUND_SCREENSHOT_OUT=docs/playground.png.
#   PIXELMILL_BIN=build/ci-release/server/pixelmill bash tests/e2e/playground.sh
# Installs what is missing: chromium, Node.js and npm from Debian; the pinned
# playwright-core of tests/e2e/playground/package-lock.json into
# tests/e2e/playground/node_modules. No browser is ever downloaded.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=$root/tests/e2e/playground
bin=${PIXELMILL_BIN:-$root/build/ci-release/server/pixelmill}
photo=$root/../shared/testdata/photos/Bridge_by_Sander_Klootwijk.jpg

fail() {
  echo "playground.sh: FAILED: $*" >&2
  exit 1
}
[[ -x $bin ]] || fail "no server binary at $bin (set PIXELMILL_BIN)"
[[ -f $photo ]] || fail "no test photo at $photo"

work=$(mktemp -d "${TMPDIR:-/tmp}/pixelmill-playground.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)
((${#missing[@]} == 0)) || "$root/.ci/install-deps" packages "${missing[@]}"

# npm ci only when the lock file changed since the last install.
if ! cmp -s "$tools/package-lock.json" "$tools/node_modules/.installed-lock"; then
  echo "playground.sh: npm ci in tests/e2e/playground"
  (cd "$tools" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) \
    || fail "npm ci"
  cp "$tools/package-lock.json" "$tools/node_modules/.installed-lock"
fi

"$bin" --listen 127.0.0.1:0 --data-dir "$work/data" --log-format json > "$work/server.log" 2>&1 &
server_pid=$!
port=""
for ((i = 0; i < 100; i++)); do
  port=$(grep -m1 -o '"msg":"listening".*"port":[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2> /dev/null || { cat "$work/server.log" >&2; fail "the server exited at start"; }
  sleep 0.1
done
[[ -n $port ]] || fail "the server did not listen within 10 s"

mkdir "$work/profile"
screenshot=$(realpath -m "${PLAYGROUND_SCREENSHOT_OUT:-$root/build/playground.png}")
mkdir -p "$(dirname "$screenshot")"
echo "playground.sh: Chromium against http://127.0.0.1:$port/"
if ! PLAYGROUND_URL=http://127.0.0.1:$port PLAYGROUND_PHOTO=$photo PLAYGROUND_SCREENSHOT=$screenshot \
     PLAYGROUND_PROFILE=$work/profile node "$tools/playground.mjs"; then
  echo "--- last warnings of the server:" >&2
  grep -v '"level":"info"' "$work/server.log" | tail -n 15 >&2 || true
  fail "the playground page does not work (FAIL lines above)"
fi
echo "playground.sh: passed (screenshot: $screenshot)"
