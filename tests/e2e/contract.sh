#!/usr/bin/env bash
# API contract test. Lints docs/openapi.yaml with Redocly CLI (recommended rules,
# warnings count as errors), then starts three real servers (defaults; tight limits;
# access control on) and validates every response of a run through successes and
# every documented error against the spec
# (tests/e2e/contract/contract.mjs: ajv, JSON Schema 2020-12). A response the spec
# does not allow, a route the server has and the spec lacks, or a documented
# status never provoked fails it.
#   PIXELMILL_BIN=build/ci-release/server/pixelmill bash tests/e2e/contract.sh
# Installs what is missing: Node.js and npm from Debian, the pinned npm tools of
# tests/e2e/contract/package-lock.json into tests/e2e/contract/node_modules.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=$root/tests/e2e/contract
bin=${PIXELMILL_BIN:-$root/build/ci-release/server/pixelmill}
testdata=$root/../shared/testdata
# Another spec may be given to see that the test catches a broken one (it then
# also reports that the served /openapi.yaml differs).
spec=${CONTRACT_SPEC:-$root/docs/openapi.yaml}

fail() {
  echo "contract.sh: FAILED: $*" >&2
  exit 1
}
[[ -x $bin ]] || fail "no server binary at $bin (set PIXELMILL_BIN)"
[[ -d $testdata/photos ]] || fail "no test images at $testdata"

work=$(mktemp -d "${TMPDIR:-/tmp}/pixelmill-contract.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  "$root/.ci/install-deps" packages nodejs npm
fi

# npm ci only when the lock file changed since the last install.
if ! cmp -s "$tools/package-lock.json" "$tools/node_modules/.installed-lock"; then
  echo "contract.sh: npm ci in tests/e2e/contract"
  (cd "$tools" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) || fail "npm ci"
  cp "$tools/package-lock.json" "$tools/node_modules/.installed-lock"
fi

echo "contract.sh: redocly lint docs/openapi.yaml"
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$tools/node_modules/.bin/redocly" lint --config "$tools/redocly.yaml" "$spec" \
  || fail "$spec does not lint clean (above)"

# Starts the server with the given flags on a free port; sets $url.
start_server() {
  local name=$1 port="" i
  shift
  mkdir -p "$work/$name"
  "$bin" --listen 127.0.0.1:0 --data-dir "$work/$name/data" --log-format json "$@" > "$work/$name/log" 2>&1 &
  pids+=($!)
  for ((i = 0; i < 100; i++)); do
    port=$(grep -m1 -o '"msg":"listening".*"port":[0-9]*' "$work/$name/log" 2> /dev/null | grep -o '[0-9]*$' || true)
    [[ -n $port ]] && break
    kill -0 "${pids[-1]}" 2> /dev/null || { cat "$work/$name/log" >&2; fail "server '$name' exited at start"; }
    sleep 0.1
  done
  [[ -n $port ]] || fail "server '$name' did not listen within 10 s"
  url=http://127.0.0.1:$port
}

start_server main --io-threads 1
main_url=$url
# Limits small enough to reach: 1 CPU thread, 1 queued job, a 100 ms deadline (a
# big PNG takes longer than that to resize, so the queued job misses it).
start_server tight --io-threads 1 --cpu-threads 1 --cpu-queue-length 1 \
  --set runtime.job_deadline=100ms --set server.playground=false
tight_url=$url
# Access control on: API keys, signed variant URLs, /metrics on a second listener.
api_key=contract-api-key-0123456789
signing_key=contract-signing-key-0123456789
start_server auth --io-threads 1 --set auth.api_keys=$api_key --set auth.sign_urls=true \
  --set auth.signing_keys=$signing_key,contract-old-signing-key-0123 --metrics-listen 127.0.0.1:0
auth_url=$url
metrics_port=$(grep -m1 -o '"msg":"metrics listening".*"port":[0-9]*' "$work/auth/log" | grep -o '[0-9]*$' || true)
[[ -n $metrics_port ]] || fail "server 'auth' did not log its metrics listener"

echo "contract.sh: validating responses of $main_url, $tight_url and $auth_url against docs/openapi.yaml"
if ! CONTRACT_SPEC=$spec CONTRACT_REPO=$root CONTRACT_TESTDATA=$testdata \
     CONTRACT_MAIN=$main_url CONTRACT_TIGHT=$tight_url CONTRACT_AUTH=$auth_url \
     CONTRACT_AUTH_METRICS=http://127.0.0.1:$metrics_port CONTRACT_API_KEY=$api_key \
     CONTRACT_SIGNING_KEY=$signing_key node "$tools/contract.mjs"; then
  for name in main tight auth; do
    echo "--- last warnings of server '$name':" >&2
    grep -v '"level":"info"' "$work/$name/log" | tail -n 15 >&2 || true
  done
  fail "the server and docs/openapi.yaml disagree (FAIL lines above)"
fi
echo "contract.sh: passed"
