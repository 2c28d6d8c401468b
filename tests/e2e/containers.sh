#!/usr/bin/env bash
# End to end with containers (issue 5): the images, the compose stack, scale-out.
#   1. builds the three images (pixelmill from ./Dockerfile, nginx and Prometheus
#      from docker/) with ${CONTAINER_ENGINE:-docker};
#   2. single stack (docker-compose.yml + docker-compose.override.yml) with
#      ${COMPOSE:-docker compose}: the container's health check passes; a real photo
#      is uploaded and a PNG variant fetched through 127.0.0.1:8080 (statuses, sizes,
#      X-Served-By = the container's host name); Prometheus' query API on 9090 has the
#      target up and pixelmill's series; the root filesystem is read-only, /data and
#      /tmp are writable, the process runs as uid 10001; drain: a slow upload is in
#      flight when the container is stopped, it completes (201), the stop takes less
#      than the 10 s stop timeout and the container exits 0;
#   1b. runtime.io_rt_priority in a container (PIXELMILL_RUNTIME_IO_RT_PRIORITY=1): it
#      starts either way, and its I/O thread is in SCHED_RR exactly when it did not log
#      that the priority was refused (read from the host's /proc: rootful engines);
#   3. scale-out (docker-compose.yml + docker-compose.scale.yml): 3 replicas on the
#      shared store behind nginx on 8080; the balancer's DNS returns the 3 replica
#      addresses; a photo uploaded through the balancer is fetched (original and
#      variant) until X-Served-By has named every replica; Prometheus has 3 targets up.
# `$COMPOSE down -v` at the end, also on failure or interrupt.
#
# Without CONTAINER_ENGINE set, it runs ../shared/tools/container-engine-setup
# (podman + podman-compose on a machine without Docker). Installs curl and jq when
# missing. Host ports: PIXELMILL_PORT (8080) and PROMETHEUS_PORT (9090), on 127.0.0.1;
# a busy port fails the test at once, naming it.
#   bash tests/e2e/containers.sh          (.ci/test e2e runs it)
set -euo pipefail

started=$SECONDS
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
photos=$repo/../shared/testdata/photos
project=pixelmill-e2e
replicas=3
export PIXELMILL_PORT=${PIXELMILL_PORT:-8080} PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
export PIXELMILL_REPLICAS=$replicas
base=http://127.0.0.1:$PIXELMILL_PORT
prom=http://127.0.0.1:$PROMETHEUS_PORT

say() { echo "containers.sh: $*"; }
fail() { echo "containers.sh: FAIL: $*" >&2; exit 1; }
phase_start=$SECONDS
phase() { say "--- $* (at $((SECONDS - started)) s)"; phase_start=$SECONDS; }

# --- dependencies -------------------------------------------------------------------
"$repo/.ci/install-deps" packages curl jq
if [[ -z ${CONTAINER_ENGINE:-} ]]; then
  setup=$repo/../shared/tools/container-engine-setup
  [[ -r $setup ]] || fail "CONTAINER_ENGINE is not set and $setup does not exist"
  eval "$(bash "$setup")"
fi
engine=${CONTAINER_ENGINE:-docker}
read -ra compose <<< "${COMPOSE:-docker compose}"
is_podman=false
[[ $("$engine" --version 2> /dev/null) == *[Pp]odman* ]] && is_podman=true
[[ -d $photos ]] || fail "no test photos in $photos"
say "engine: $("$engine" --version | head -1); compose: ${compose[*]}"

# --- temp dir, cleanup ----------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pixelmill-containers.XXXXXX")
files=(-f docker-compose.yml -f docker-compose.override.yml)
all_files=(-f docker-compose.yml -f docker-compose.scale.yml)  # every service of both

project_containers() {
  "$engine" ps -a -q --filter "label=com.docker.compose.project=$project" "$@"
}
service_containers() {  # running containers of one service
  "$engine" ps -q --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1"
}
down() {  # removes the project's containers, volumes (and, under podman, network)
  "${compose[@]}" -p "$project" "${all_files[@]}" down -v > "$tmp/down.log" 2>&1 || true
  local left
  left=$(project_containers)
  [[ -z $left ]] || "$engine" rm -f $left > /dev/null 2>&1 || true
  if $is_podman; then
    "$engine" volume ls -q --filter "label=com.docker.compose.project=$project" |
      xargs -r "$engine" volume rm -f > /dev/null 2>&1 || true
    "$engine" network rm -f "${project}_default" > /dev/null 2>&1 || true
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local job
  for job in $(jobs -p); do kill "$job" 2> /dev/null || true; done  # builds, the slow upload
  if ((rc != 0)); then
    local c
    for c in $(project_containers 2> /dev/null); do
      echo "--- last lines of $("$engine" inspect -f '{{.Name}}' "$c" 2> /dev/null):" >&2
      "$engine" logs --tail 20 "$c" 2>&1 | tail -n 20 >&2 || true
    done
    [[ -s $tmp/up.log ]] && { echo "--- last lines of compose up:" >&2; tail -n 20 "$tmp/up.log" >&2; }
    echo "containers.sh: FAILED after $((SECONDS - started)) s" >&2
  fi
  [[ -n ${rt:-} ]] && "$engine" rm -f "$rt" > /dev/null 2>&1
  down
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ----------------------------------------------------------------------------
port_busy() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

wait_until() {  # wait_until SECONDS WHAT COMMAND...: polls every 0.5 s
  local limit=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "$what: not within $limit s"
    sleep 0.5
  done
}

# http METHOD URL OUT [curl args...]: prints the status; headers go to OUT.h
http() {
  local method=$1 url=$2 out=$3
  shift 3
  curl -sS -X "$method" -o "$out" -D "$out.h" -w '%{http_code}' --max-time 60 "$@" "$url"
}
header() { grep -i "^$2:" "$1.h" | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

png_size() {  # WxH from a PNG's IHDR, or "not a PNG"
  local sig b
  sig=$(od -An -tx1 -N8 "$1" | tr -d ' \n')
  [[ $sig == 89504e470d0a1a0a ]] || { echo "not a PNG"; return; }
  read -ra b < <(od -An -tu1 -j16 -N8 "$1")
  echo "$(((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]))x$(((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]))"
}

container_healthy() {  # the image's / compose's own health check passes
  if $is_podman; then
    # podman runs health checks from systemd timers; without systemd, run it now.
    "$engine" healthcheck run "$1" > /dev/null 2>&1
  else
    [[ $("$engine" inspect -f '{{.State.Health.Status}}' "$1") == healthy ]]
  fi
}
all_healthy() {  # all_healthy SERVICE COUNT
  local ids c n=0
  ids=$(service_containers "$1")
  for c in $ids; do container_healthy "$c" && n=$((n + 1)); done
  ((n == $2))
}

prom_query() {  # the query's result vector as JSON
  curl -sS --max-time 5 --get --data-urlencode "query=$1" "$prom/api/v1/query" |
    jq -c '.data.result'
}
prom_value() {  # the first sample's value, or "none"
  prom_query "$1" | jq -r '.[0].value[1] // "none"'
}
prom_equals() { [[ $(prom_value "$1") == "$2" ]]; }

compose_extra=()
compose_up() {  # compose_up FILES...: starts the stack (images are built already)
  files=("$@")
  "${compose[@]}" "${compose_extra[@]}" -p "$project" "${files[@]}" up -d > "$tmp/up.log" 2>&1 ||
    fail "compose up failed (see below)"
}

# --- 0. ports, leftovers --------------------------------------------------------------
down  # a stack left by an interrupted run
for port in "$PIXELMILL_PORT" "$PROMETHEUS_PORT"; do
  if port_busy "$port"; then
    fail "127.0.0.1:$port is already in use; stop what listens there or run with PIXELMILL_PORT=/PROMETHEUS_PORT= set to free ports"
  fi
done

# --- 1. images --------------------------------------------------------------------------
phase "building images"
export BUILDAH_FORMAT=docker  # podman: keep HEALTHCHECK and STOPSIGNAL in the images
build() {  # build TAG CONTEXT LOG [BUILD OPTIONS...]
  local t0=$SECONDS tag=$1 context=$2 log=$3
  shift 3
  if "$engine" build "$@" -t "$tag" "$context" > "$log" 2>&1; then
    say "built $tag in $((SECONDS - t0)) s"
  else
    tail -n 30 "$log" >&2
    return 1
  fi
}
# nginx and Prometheus are mostly package downloads: they build meanwhile.
build pixelmill-nginx:local docker/nginx "$tmp/build-nginx.log" & nginx_build=$!
build pixelmill-prometheus:local docker/prometheus "$tmp/build-prometheus.log" & prom_build=$!
build pixelmill:local . "$tmp/build-pixelmill.log" \
  --build-arg "REVISION=$(git rev-parse HEAD 2> /dev/null || echo unknown)" ||
  fail "pixelmill image build failed"
wait "$nginx_build" || fail "nginx image build failed"
wait "$prom_build" || fail "prometheus image build failed"
size=$("$engine" image inspect -f '{{.Size}}' pixelmill:local)
say "image pixelmill:local: $((size / 1000000)) MB; $("$engine" run --rm pixelmill:local --version 2> /dev/null)"
say "images built in $((SECONDS - phase_start)) s"

# Some machines (this project's build machine: a runc wrapper drops the rlimits of new
# containers, not of exec'd processes) refuse `podman exec` because podman asks for
# more open files / processes than the runtime may grant; the test needs exec (health
# checks, the read-only probes). Then the containers are given, explicitly, the
# limits a container gets there anyway.
if $is_podman; then
  probe=$("$engine" run -d --rm --entrypoint sleep pixelmill:local 60 2> /dev/null)
  if ! "$engine" exec "$probe" true > /dev/null 2> "$tmp/exec.err"; then
    grep -q rlimit "$tmp/exec.err" || fail "podman exec fails: $(cat "$tmp/exec.err")"
    limit() {  # the hard limit named $1 in a container, as soft:hard
      local v
      v=$("$engine" run --rm --entrypoint cat pixelmill:local /proc/self/limits 2> /dev/null |
        awk -v n="$1" 'index($0, n) == 1 { print $(NF - 1) }')
      [[ $v == unlimited ]] && v=-1
      echo "$v:$v"
    }
    compose_extra=("--podman-run-args=--ulimit nofile=$(limit 'Max open files') --ulimit nproc=$(limit 'Max processes')")
    say "podman exec cannot raise rlimits here: containers run with ${compose_extra[0]#*=}"
  fi
  "$engine" rm -f -v "$probe" > /dev/null 2>&1 || true
fi

# --- 1b. real-time I/O threads ---------------------------------------------------------
# Granted or refused depends on the host (CAP_SYS_NICE, RLIMIT_RTPRIO, the cgroup's RT
# budget); what must hold is that the service runs and tells the truth about it.
phase "runtime.io_rt_priority in a container"
rt=$("$engine" run -d -e PIXELMILL_RUNTIME_IO_RT_PRIORITY=1 --cap-add SYS_NICE pixelmill:local)
rt_logged() { "$engine" logs "$rt" 2>&1 | grep "$1" > /dev/null; }  # not -q: pipefail
wait_until 30 "the real-time container logs 'listening'" rt_logged listening
rt_pid=$("$engine" inspect -f '{{.State.Pid}}' "$rt")
io_tid=$(grep -lx pm-io-0 /proc/"$rt_pid"/task/*/comm | head -n 1 | cut -d/ -f5)
[[ -n $io_tid ]] || fail "no pm-io-0 thread under host pid $rt_pid"
policy=$(chrt -p "$io_tid" | head -n 1 | sed 's/.*policy: //')
if rt_logged "real-time priority refused"; then
  [[ $policy == SCHED_OTHER ]] || fail "refusal logged, yet pm-io-0 runs $policy"
  say "SCHED_RR refused in a container here (logged); pm-io-0 runs $policy and serves"
else
  [[ $policy == "SCHED_RR|SCHED_RESET_ON_FORK" ]] || fail "no refusal logged, yet pm-io-0 runs $policy"
  say "pm-io-0 runs $policy in the container"
fi
"$engine" rm -f "$rt" > /dev/null
rt=

# --- 2. single stack ------------------------------------------------------------------
phase "single stack: pixelmill + Prometheus"
compose_up -f docker-compose.yml -f docker-compose.override.yml
wait_until 60 "pixelmill answers /healthz on $base" curl -fsS -o /dev/null --max-time 2 "$base/healthz"
wait_until 30 "pixelmill's container health check passes" all_healthy pixelmill 1
pm=$(service_containers pixelmill)
host=$("$engine" inspect -f '{{.Config.Hostname}}' "$pm")
say "pixelmill container ${pm:0:12} (host name $host) is healthy"

# Upload a real photo, fetch a variant.
photo=$photos/Bridge_by_Sander_Klootwijk.jpg
code=$(http POST "$base/v1/images" "$tmp/up.json" -H 'Content-Type: image/jpeg' --data-binary "@$photo")
[[ $code == 201 ]] || fail "upload: HTTP $code: $(cat "$tmp/up.json")"
id=$(jq -r .id "$tmp/up.json")
say "uploaded $(basename "$photo"): $(jq -c '{format, width, height, bytes}' "$tmp/up.json")"
[[ $(jq -r .bytes "$tmp/up.json") == $(stat -c %s "$photo") ]] || fail "upload: byte count differs"
(($(jq -r .width "$tmp/up.json") > 320 && $(jq -r .height "$tmp/up.json") > 200)) || fail "upload: unexpected size"
[[ $(header "$tmp/up.json" X-Served-By) == "$host" ]] || fail "X-Served-By is '$(header "$tmp/up.json" X-Served-By)', not '$host'"

code=$(http GET "$base/v1/images/$id?w=320&h=200&fit=cover&format=png" "$tmp/variant.png")
[[ $code == 200 ]] || fail "variant: HTTP $code"
[[ $(header "$tmp/variant.png" Content-Type) == image/png ]] || fail "variant: Content-Type $(header "$tmp/variant.png" Content-Type)"
[[ $(png_size "$tmp/variant.png") == 320x200 ]] || fail "variant: $(png_size "$tmp/variant.png"), not 320x200"
code=$(http GET "$base/v1/images/$id" "$tmp/original")
[[ $code == 200 ]] && cmp -s "$tmp/original" "$photo" || fail "original: HTTP $code or bytes differ"
say "variant 320x200 PNG ($(stat -c %s "$tmp/variant.png") bytes) and the original byte for byte"

# Prometheus scrapes it (DNS service discovery on the name `pixelmill`).
wait_until 90 "Prometheus answers on $prom" curl -fsS -o /dev/null --max-time 2 "$prom/-/ready"
wait_until 60 "Prometheus has the pixelmill target up" prom_equals 'sum(up{job="pixelmill"})' 1
wait_until 30 "Prometheus has the upload in pixelmill_http_requests_total" \
  prom_equals 'sum(pixelmill_http_requests_total{route="/v1/images",method="POST",code="201"})' 1
series=$(prom_value 'count(count by (__name__) ({__name__=~"pixelmill_.+"}))')
((series >= 15)) || fail "Prometheus has only $series pixelmill_* metric names"
target=$(curl -sS "$prom/api/v1/targets" | jq -r '.data.activeTargets[] | select(.labels.job == "pixelmill") | "\(.labels.instance) \(.health)"')
say "Prometheus: target $target, $series pixelmill_* metric names"

# Read-only root filesystem; only /data and /tmp are writable; not root.
[[ $("$engine" inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$pm") == true ]] || fail "root filesystem is not read-only"
if "$engine" exec "$pm" touch /probe > /dev/null 2>&1; then fail "could write /probe on the root filesystem"; fi
if "$engine" exec "$pm" touch /etc/pixelmill/probe > /dev/null 2>&1; then fail "could write under /etc"; fi
"$engine" exec "$pm" sh -c 'touch /data/.probe && rm /data/.probe' || fail "/data is not writable"
"$engine" exec "$pm" sh -c 'touch /tmp/.probe && rm /tmp/.probe' || fail "/tmp is not writable"
uid=$("$engine" exec "$pm" id -u)
[[ $uid == 10001 ]] || fail "runs as uid $uid, not 10001"
say "root filesystem read-only, /data and /tmp writable, uid $uid"

# Drain: a slow upload (1.5 MB at 400 kB/s, ~4 s) is in flight when the container is
# stopped; it must complete, and the container must exit 0 within the stop timeout.
slow=$photos/Dragonfly_by_Bolly.jpg
curl -sS -o "$tmp/slow.json" -w '%{http_code}' --max-time 30 --limit-rate 400k \
  -H 'Content-Type: image/jpeg' --data-binary "@$slow" "$base/v1/images" > "$tmp/slow.code" 2> "$tmp/slow.err" &
slow_pid=$!
sleep 1.5
kill -0 "$slow_pid" 2> /dev/null || fail "the slow upload finished before the stop: $(cat "$tmp/slow.code" "$tmp/slow.err")"
t0=$(date +%s%N)
"$engine" stop -t 10 "$pm" > /dev/null
stop_ms=$((($(date +%s%N) - t0) / 1000000))
wait "$slow_pid" || fail "slow upload: curl failed: $(cat "$tmp/slow.err")"
[[ $(cat "$tmp/slow.code") == 201 ]] || fail "slow upload during stop: HTTP $(cat "$tmp/slow.code"): $(cat "$tmp/slow.json")"
exit_code=$("$engine" inspect -f '{{.State.ExitCode}}' "$pm")
[[ $exit_code == 0 ]] || fail "container exited $exit_code after stop (137 = killed at the timeout)"
((stop_ms < 10000)) || fail "stop took $stop_ms ms: the drain does not fit in the 10 s stop timeout"
"$engine" logs "$pm" > "$tmp/pixelmill.log" 2>&1
grep -q 'draining' "$tmp/pixelmill.log" && grep -q 'stopped' "$tmp/pixelmill.log" ||
  fail "no 'draining' and 'stopped' lines in the container's log"
say "drain: the upload in flight got 201, the container stopped in $stop_ms ms with exit code 0"
say "single stack passed in $((SECONDS - phase_start)) s"
down

# --- 3. scale-out -----------------------------------------------------------------------
phase "scale-out: $replicas replicas behind nginx"
compose_up -f docker-compose.yml -f docker-compose.scale.yml
wait_until 90 "$replicas healthy pixelmill replicas" all_healthy pixelmill "$replicas"
declare -A hosts=()
for c in $(service_containers pixelmill); do
  hosts[$("$engine" inspect -f '{{.Config.Hostname}}' "$c")]=1
done
((${#hosts[@]} == replicas)) || fail "expected $replicas replica host names, got: ${!hosts[*]}"
lb=$(service_containers nginx)
[[ -n $lb ]] || fail "no nginx container"
wait_until 30 "nginx answers on $base" curl -fsS -o /dev/null --max-time 2 "$base/nginx-health"
addresses=$("$engine" exec "$lb" getent ahostsv4 pixelmill | awk '{print $1}' | sort -u)
(($(wc -l <<< "$addresses") == replicas)) || fail "the name pixelmill resolves to $(echo $addresses) in nginx's container, not $replicas addresses"
say "replicas ${!hosts[*]}; 'pixelmill' resolves to $(echo $addresses)"

photo=$photos/Wine_by_Jakkub_Mede.jpg
code=$(http POST "$base/v1/images" "$tmp/up.json" -H 'Content-Type: image/jpeg' --data-binary "@$photo")
[[ $code == 201 ]] || fail "upload through the balancer: HTTP $code: $(cat "$tmp/up.json")"
id=$(jq -r .id "$tmp/up.json")
uploaded_by=$(header "$tmp/up.json" X-Served-By)
[[ -n ${hosts[$uploaded_by]:-} ]] || fail "upload answered by '$uploaded_by', not a replica"
say "uploaded through the balancer, stored by $uploaded_by"

declare -A seen=()
for ((i = 1; i <= 60 && ${#seen[@]} < replicas; i++)); do
  w=$((200 + i))  # a new variant each time: every replica computes one
  code=$(http GET "$base/v1/images/$id?w=$w&h=150&fit=cover&format=png" "$tmp/v.png")
  by=$(header "$tmp/v.png" X-Served-By)
  [[ $code == 200 ]] || fail "variant $i from '$by': HTTP $code: $(head -c 300 "$tmp/v.png")"
  [[ $(png_size "$tmp/v.png") == "${w}x150" ]] || fail "variant $i from $by: $(png_size "$tmp/v.png"), not ${w}x150"
  code=$(http GET "$base/v1/images/$id" "$tmp/o")
  [[ $code == 200 ]] && cmp -s "$tmp/o" "$photo" || fail "original from $(header "$tmp/o" X-Served-By): HTTP $code or bytes differ"
  [[ -n ${hosts[$by]:-} ]] || fail "variant answered by '$by', not a replica"
  seen[$by]=$((${seen[$by]:-0} + 1))
done
((${#seen[@]} == replicas)) || fail "after $((i - 1)) requests only ${!seen[*]} answered"
summary=$(for h in "${!seen[@]}"; do printf '%s:%s ' "$h" "${seen[$h]}"; done)
say "variants and originals from every replica after $((i - 1)) requests ($summary)"

wait_until 90 "Prometheus answers on $prom" curl -fsS -o /dev/null --max-time 2 "$prom/-/ready"
wait_until 60 "Prometheus has $replicas pixelmill targets up" \
  prom_equals 'count(up{job="pixelmill"} == 1)' "$replicas"
say "Prometheus: $replicas pixelmill targets up"
say "scale-out passed in $((SECONDS - phase_start)) s"

say "passed in $((SECONDS - started)) s"
