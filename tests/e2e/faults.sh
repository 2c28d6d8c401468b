#!/usr/bin/env bash
# Storage faults against the real binary, on real (tiny, loop-free) filesystems:
#   1. a data directory on a read-only mount, or under a regular file: the process
#      refuses to start, exit 1, with one line naming the path and the reason;
#   2. a store on a full filesystem (4 MiB tmpfs): uploads answer 507 problem+json,
#      nothing partial is left, reads keep working, /readyz and /metrics report the
#      condition, and freeing space clears it.
# Needs root (mount). Run by `.ci/test e2e` with PIXELMILL_BIN set.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PIXELMILL_BIN:?PIXELMILL_BIN must name the pixelmill binary}
photos="$root/../shared/testdata/photos"
command -v curl > /dev/null || "$root/.ci/install-deps" test

work=$(mktemp -d /tmp/pixelmill-faults.XXXXXX)
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill -9 "$pid" 2> /dev/null; wait "$pid" 2> /dev/null; fi || true
  for m in "$work"/ro "$work"/full; do mountpoint -q "$m" && umount "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [[ -f $work/log ]] && tail -20 "$work/log" >&2; exit 1; }
check() { [[ $2 == "$3" ]] || fail "$1: expected '$3', got '$2'"; }

# --- 1. not writable at start ------------------------------------------------
# The store's folders exist (a volume from an earlier run) but the mount is now
# read-only: only the start-up write probe can notice.
mkdir "$work/ro" && mount -t tmpfs -o size=1m tmpfs "$work/ro"
mkdir -p "$work/ro/store/originals" && mount -o remount,ro "$work/ro"
set +e
timeout 10 "$bin" --listen 127.0.0.1:0 --data-dir "$work/ro/store" > "$work/log" 2>&1
code=$?
set -e
check "exit code with a read-only data dir" "$code" 1
grep -q "Read-only file system" "$work/log" || fail "no reason in: $(cat "$work/log")"
grep -q "$work/ro/store" "$work/log" || fail "no path in: $(cat "$work/log")"
echo "ok: read-only data dir refused: $(grep -o 'error=.*' "$work/log" | head -1)"

touch "$work/a-file"
set +e
timeout 10 "$bin" --listen 127.0.0.1:0 --data-dir "$work/a-file/store" > "$work/log" 2>&1
code=$?
set -e
check "exit code with a data dir under a file" "$code" 1
grep -q "Not a directory" "$work/log" || fail "no reason in: $(cat "$work/log")"
echo "ok: data dir under a regular file refused"

# --- 2. full filesystem --------------------------------------------------------
mkdir "$work/full" && mount -t tmpfs -o size=4m tmpfs "$work/full"
"$bin" --listen 127.0.0.1:0 --data-dir "$work/full" --log-format json \
  --set server.max_body_bytes=2000000 > "$work/log" 2>&1 &
pid=$!
port=""
for _ in $(seq 100); do
  port=$(grep -o '"port":[0-9]*' "$work/log" | head -1 | cut -d: -f2) || true
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || fail "server did not start"
base="http://127.0.0.1:$port"

stored=() full_status=""
for photo in "$photos"/*.jpg "$photos"/*.png; do
  code=$(curl -s -o "$work/body" -w '%{http_code}' -H 'Content-Type: image/jpeg' \
    --data-binary @"$photo" "$base/v1/images")
  case $code in
    201) stored+=("$(grep -o '"id":"[0-9a-f]*"' "$work/body" | cut -d'"' -f4) $photo") ;;
    507) full_status=$code; break ;;
    *) fail "upload of $photo: HTTP $code $(cat "$work/body")" ;;
  esac
done
check "status once the disk is full" "$full_status" 507
check "problem type" "$(grep -o '"type":"[^"]*"' "$work/body")" '"type":"urn:pixelmill:problem:insufficient-storage"'
grep -q '"status":507' "$work/body" || fail "problem body lacks status: $(cat "$work/body")"
((${#stored[@]} >= 1)) || fail "nothing fitted on the 4 MiB filesystem"
echo "ok: ${#stored[@]} uploads stored, then 507 $(cat "$work/body")"

leftovers=$(find "$work/full" -name '.tmp-*' | wc -l)
check "temp files left after 507" "$leftovers" 0
images=$(find "$work/full/originals" -type f ! -name '*.json' | wc -l)
check "originals on disk" "$images" "${#stored[@]}"

for entry in "${stored[@]}"; do
  id=${entry%% *} photo=${entry#* }
  curl -sf -o "$work/got" "$base/v1/images/$id" || fail "read of $id after 507"
  cmp -s "$work/got" "$photo" || fail "stored $id differs from $photo"
  code=$(curl -s -o "$work/variant" -w '%{http_code}' "$base/v1/images/$id?w=64&format=png")
  check "variant of $id on a full disk" "$code" 200
done
echo "ok: every stored original reads back byte-identical; variants still served"

check "/readyz on a full disk" "$(curl -s "$base/readyz")" '{"status":"ready","storage":"full"}'
grep -q '^pixelmill_storage_full 1$' <(curl -s "$base/metrics") || fail "pixelmill_storage_full is not 1"

for entry in "${stored[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/v1/images/${entry%% *}")
  check "delete" "$code" 204
done
check "/readyz after freeing space" "$(curl -s "$base/readyz")" '{"status":"ready","storage":"ok"}'
grep -q '^pixelmill_storage_full 0$' <(curl -s "$base/metrics") || fail "pixelmill_storage_full is not 0"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: image/jpeg' \
  --data-binary @"${stored[0]#* }" "$base/v1/images")
check "upload after freeing space" "$code" 201
echo "ok: freeing space clears the condition; uploads work again"
