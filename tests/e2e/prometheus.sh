#!/usr/bin/env bash
# End to end with a real Prometheus (issue 4):
#   1. promtool checks docker/prometheus/prometheus.yml and rules.yml and runs the
#      rule unit tests (rules_test.yml);
#   2. starts pixelmill ($PIXELMILL_BIN) on a free 127.0.0.1 port with a temp store;
#      `promtool check metrics` must find nothing to complain about in its /metrics;
#   3. starts Debian's prometheus on a free 127.0.0.1 port with the shipped
#      configuration (its dns_sd block swapped for a static 127.0.0.1 target) and
#      rules, drives a known set of uploads and resizes with real photos, waits for
#      two scrapes, and asserts through the HTTP query API that the target is up and
#      that the request, I/O-lag and CPU-queue series hold what the test caused;
#      the recording rules must produce series and every rule must evaluate cleanly.
# Installs prometheus, curl and jq when missing (Debian bookworm, as root or with
# sudo). Every process and temp file it creates is removed on exit, also on failure.
#   PIXELMILL_BIN=build/ci-release/server/pixelmill bash tests/e2e/prometheus.sh
set -euo pipefail

started=$SECONDS
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prom_src=$repo/docker/prometheus
photos=$repo/../shared/testdata/photos
bin=${PIXELMILL_BIN:-$repo/build/ci-release/server/pixelmill}
io_threads=2
cpu_threads=2

say() { echo "prometheus.sh: $*"; }
fail() { echo "prometheus.sh: FAIL: $*" >&2; exit 1; }

# --- dependencies ---------------------------------------------------------------
# The package's own service is not used: on a systemd host it would listen on
# :9090; this test starts its own Prometheus on a free port.
"$repo/.ci/install-deps" packages prometheus curl jq
[[ -x $bin ]] || fail "no pixelmill binary at '$bin' (set PIXELMILL_BIN)"
[[ -d $photos ]] || fail "no test photos in $photos"
say "$(prometheus --version 2>&1 | head -1); $("$bin" --version)"

# --- temp dir, processes, cleanup -------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pixelmill-prometheus.XXXXXX")
pixelmill_pid='' prometheus_pid=''

stop() {  # stop PID: SIGTERM, then SIGKILL after 10 s; reaps it
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop "$prometheus_pid"
  stop "$pixelmill_pid"
  if ((rc != 0)); then
    for log in pixelmill.log prometheus.log; do
      [[ -s $tmp/$log ]] || continue
      echo "--- last lines of $log:" >&2
      tail -n 25 "$tmp/$log" >&2
    done
    echo "prometheus.sh: FAILED after $((SECONDS - started)) s" >&2
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. static checks -------------------------------------------------------------
say "promtool check config / check rules / test rules"
promtool check config "$prom_src/prometheus.yml" > "$tmp/promtool.out" 2>&1 ||
  { cat "$tmp/promtool.out" >&2; fail "promtool check config docker/prometheus/prometheus.yml"; }
promtool check rules "$prom_src/rules.yml" > "$tmp/promtool.out" 2>&1 ||
  { cat "$tmp/promtool.out" >&2; fail "promtool check rules docker/prometheus/rules.yml"; }
(cd "$prom_src" && promtool test rules rules_test.yml) > "$tmp/promtool.out" 2>&1 ||
  { cat "$tmp/promtool.out" >&2; fail "promtool test rules docker/prometheus/rules_test.yml"; }

# --- 2. pixelmill ---------------------------------------------------------------------
"$bin" --listen 127.0.0.1:0 --data-dir "$tmp/data" --io-threads "$io_threads" \
  --cpu-threads "$cpu_threads" --log-format json > "$tmp/pixelmill.log" 2>&1 &
pixelmill_pid=$!
port=''
for ((i = 0; i < 100; i++)); do
  port=$(jq -Rr 'fromjson? | select(.msg == "listening") | .port' "$tmp/pixelmill.log" | head -n 1)
  [[ -n $port ]] && break
  kill -0 "$pixelmill_pid" 2>/dev/null || fail "pixelmill exited at start"
  sleep 0.1
done
[[ -n $port ]] || fail "pixelmill did not log its port within 10 s"
base=http://127.0.0.1:$port
say "pixelmill listening on $base (pid $pixelmill_pid)"

# Every request this test sends is counted here by "route method code", as
# pixelmill_http_requests_total labels it; Prometheus' own scrapes are added later.
declare -A sent=()
cpu_jobs=0  # requests that run one job on the CPU pool

# call EXPECTED_CODE ROUTE METHOD PATH [curl args…]: the body lands in $tmp/body.
call() {
  local want=$1 route=$2 method=$3 path=$4 code
  shift 4
  local args=(-sS -o "$tmp/body" -w '%{http_code}' --max-time 60)
  [[ $method == GET || $method == POST ]] || args+=(-X "$method")
  code=$(curl "${args[@]}" "$@" "$base$path") || fail "$method $path: curl failed"
  [[ $code == "$want" ]] ||
    fail "$method $path answered $code, expected $want: $(head -c 300 "$tmp/body")"
  sent["$route $method $code"]=$((${sent["$route $method $code"]:-0} + 1))
}

call 200 /healthz GET /healthz
call 200 /metrics GET /metrics
cp "$tmp/body" "$tmp/metrics.txt"
promtool check metrics < "$tmp/metrics.txt" > "$tmp/lint.out" 2>&1 || true
if [[ -s $tmp/lint.out ]]; then
  cat "$tmp/lint.out" >&2
  fail "promtool check metrics complains about pixelmill's /metrics (above)"
fi
say "promtool check metrics: no problems in $(grep -vc '^#' "$tmp/metrics.txt") samples"

# --- 3. prometheus --------------------------------------------------------------------
# The shipped file, with the dns_sd block (between the BEGIN/END targets markers)
# replaced by a static target; rules.yml beside it, as in the container.
mkdir -p "$tmp/prom"
cp "$prom_src/rules.yml" "$tmp/prom/rules.yml"
sed '/# BEGIN targets/,/# END targets/c\
    static_configs:\
      - targets: ["127.0.0.1:'"$port"'"]' "$prom_src/prometheus.yml" > "$tmp/prom/prometheus.yml"
if ! grep -q static_configs "$tmp/prom/prometheus.yml" || grep -q dns_sd_configs "$tmp/prom/prometheus.yml"; then
  fail "prometheus.yml lost its '# BEGIN targets' / '# END targets' markers"
fi
say "local variant of docker/prometheus/prometheus.yml:"
diff "$prom_src/prometheus.yml" "$tmp/prom/prometheus.yml" | sed 's/^/    /' || true
promtool check config "$tmp/prom/prometheus.yml" > "$tmp/promtool.out" 2>&1 ||
  { cat "$tmp/promtool.out" >&2; fail "promtool check config on the local variant"; }

free_port() {  # a port nothing listens on (a connection to it is refused)
  local p
  for ((n = 0; n < 100; n++)); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<> "/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  fail "found no free port"
}

prom=''
for _ in 1 2 3; do  # another process may take the port between check and bind
  pport=$(free_port)
  prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$pport" > "$tmp/prometheus.log" 2>&1 &
  prometheus_pid=$!
  for ((i = 0; i < 300; i++)); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$pport/-/ready" 2>/dev/null; then
      prom=http://127.0.0.1:$pport
      break 2
    fi
    kill -0 "$prometheus_pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q 'address already in use' "$tmp/prometheus.log" || fail "prometheus did not become ready"
  stop "$prometheus_pid"
  prometheus_pid=''
  rm -rf "$tmp/tsdb"
done
[[ -n $prom ]] || fail "prometheus found no free port in 3 attempts"
say "prometheus ready on $prom (pid $prometheus_pid)"

# --- scrapes ---------------------------------------------------------------------------
last_scrape() {  # prints "EPOCH HEALTH ERROR" of the pixelmill target
  local line ts health error
  line=$(curl -fsS "$prom/api/v1/targets?state=active" |
    jq -r '.data.activeTargets[] | select(.labels.job == "pixelmill") | "\(.lastScrape)\t\(.health)\t\(.lastError)"')
  [[ -n $line ]] || { echo "0 none no-target"; return; }
  IFS=$'\t' read -r ts health error <<< "$line"
  echo "$(date -d "$ts" +%s.%N) $health $error"
}
after() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }  # float a > b
# wait_scrape EPOCH WHAT: waits (20 s at most) for a successful scrape that started
# after EPOCH; sets $scraped to its start time.
wait_scrape() {
  local since=$1 what=$2 deadline=$((SECONDS + 20)) ts health error
  while :; do
    read -r ts health error < <(last_scrape)
    if after "$ts" "$since"; then
      [[ $health == up ]] || fail "$what: target $health: $error"
      scraped=$ts
      return 0
    fi
    ((SECONDS < deadline)) || fail "$what: no scrape within 20 s (last: $health $error)"
    sleep 0.5
  done
}

# --- traffic --------------------------------------------------------------------------
mime_of() { case $1 in *.png) echo image/png ;; *) echo image/jpeg ;; esac; }
mapfile -t files < <(find "$photos" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' \) | sort)
((${#files[@]} >= 2)) || fail "fewer than 2 photos in $photos"

# Upload each photo (201 and its id): half, then a scrape, then the rest, so the
# client series grow between two samples and the recording rules' rates over them
# are defined (a series' first sample gives rate() nothing to compare with).
ids=()
half=$((${#files[@]} / 2))
for ((i = 0; i < ${#files[@]}; i++)); do
  if ((i == half)); then
    wait_scrape "$(date +%s.%N)" "scrape between the uploads"
  fi
  f=${files[i]}
  call 201 /v1/images POST /v1/images -H "Content-Type: $(mime_of "$f")" --data-binary "@$f"
  ids+=("$(jq -r .id "$tmp/body")")
  cpu_jobs=$((cpu_jobs + 1))
done
# the same bytes again: 200, same id
call 200 /v1/images POST /v1/images -H "Content-Type: $(mime_of "${files[0]}")" --data-binary "@${files[0]}"
[[ $(jq -r .id "$tmp/body") == "${ids[0]}" ]] || fail "re-upload gave another id"
cpu_jobs=$((cpu_jobs + 1))
for id in "${ids[@]}"; do  # one variant of each: computed (cache miss)
  call 200 '/v1/images/{id}' GET "/v1/images/$id?w=320&h=240&fit=cover&format=webp"
  [[ $(head -c 12 "$tmp/body" | tail -c 4) == WEBP ]] || fail "variant of $id is not WebP"
  cpu_jobs=$((cpu_jobs + 1))
done
call 200 '/v1/images/{id}' GET "/v1/images/${ids[0]}?w=320&h=240&fit=cover&format=webp"  # cache hit
cpu_jobs=$((cpu_jobs + 1))
call 200 /v1/resize POST '/v1/resize?w=200&format=jpeg' -H "Content-Type: $(mime_of "${files[1]}")" \
  --data-binary "@${files[1]}"
call 200 /v1/resize POST '/v1/resize?w=150&h=150&format=png' -F "file=@${files[0]}"
cpu_jobs=$((cpu_jobs + 2))
call 404 '/v1/images/{id}' GET "/v1/images/$(printf '0%.0s' {1..64})"  # well-formed, unknown id
cpu_jobs=$((cpu_jobs + 1))
call 204 '/v1/images/{id}' DELETE "/v1/images/${ids[-1]}"
cpu_jobs=$((cpu_jobs + 1))
call 404 unmatched GET /no/such/path  # no route: no CPU job
traffic_end=$(date +%s.%N)
uploads=$((${#files[@]} + 1))
say "sent ${#files[@]} photos: $uploads uploads, $((${#ids[@]} + 1)) variants, 2 resizes, 1 delete, 2 not found ($cpu_jobs CPU jobs)"

# Two scrapes that started after the traffic: the second sees the first's request.
wait_scrape "$traffic_end" "first scrape after the traffic"
wait_scrape "$scraped" "second scrape after the traffic"
sleep 1  # the target reports a scrape just before its samples are committed

# Queries are pinned to just after that scrape, so the next one cannot slip in
# between two queries (the scrape interval is 5 s).
t_eval=$(awk -v t="$scraped" 'BEGIN { printf "%.3f", t + 1 }')
say "two scrapes after the traffic; querying at $t_eval"

# query PROMQL [TIME]: prints one line per series, "label=value,…<TAB>value", sorted
query() {
  local out
  out=$(curl -fsS --get --data-urlencode "query=$1" --data-urlencode "time=${2:-$t_eval}" \
    "$prom/api/v1/query") || fail "query failed: $1"
  jq -e '.status == "success"' <<< "$out" > /dev/null || fail "query error for $1: $out"
  jq -r '.data.result[] | "\(.metric | to_entries | map("\(.key)=\(.value)") | join(","))\t\(.value[1])"' \
    <<< "$out" | sort
}
expect() {  # expect PROMQL EXPECTED-OUTPUT-OF-query WHAT
  local got
  got=$(query "$1")
  [[ $got == "$2" ]] || fail "$3
  query:    $1
  expected: $(sed '2,$s/^/            /' <<< "$2")
  got:      $(sed '2,$s/^/            /' <<< "${got:-<no series>}")"
}

# --- assertions -------------------------------------------------------------------------
expect 'up{job="pixelmill"}' "__name__=up,instance=127.0.0.1:$port,job=pixelmill	1" \
  'the pixelmill target is not up'

# Each scrape's own GET /metrics is counted after its body is written, so the scrape
# numbered k sees k-1 earlier scrapes: scrapes so far = samples of `up` - 1.
scrapes=$(query 'count_over_time(up{job="pixelmill"}[1h])' | cut -f2)
if ! [[ $scrapes =~ ^[0-9]+$ ]] || ((scrapes < 2)); then
  fail "expected at least 2 scrapes, found '$scrapes'"
fi
sent["/metrics GET 200"]=$((${sent["/metrics GET 200"]} + scrapes - 1))
expected_requests=$(for key in "${!sent[@]}"; do
  read -r route method code <<< "$key"
  printf 'code=%s,method=%s,route=%s\t%s\n' "$code" "$method" "$route" "${sent[$key]}"
done | sort)
expect 'sum by (route, method, code) (pixelmill_http_requests_total{job="pixelmill"})' \
  "$expected_requests" \
  "pixelmill_http_requests_total differs from the requests the test sent (+ $((scrapes - 1)) earlier scrapes)"

expect 'pixelmill_cpu_queue_wait_seconds_count{job="pixelmill"}' \
  "__name__=pixelmill_cpu_queue_wait_seconds_count,instance=127.0.0.1:$port,job=pixelmill	$cpu_jobs" \
  "pixelmill_cpu_queue_wait_seconds_count is not the $cpu_jobs CPU jobs the test caused"
expect 'pixelmill_cpu_queue_wait_seconds_bucket{job="pixelmill", le="+Inf"}' \
  "__name__=pixelmill_cpu_queue_wait_seconds_bucket,instance=127.0.0.1:$port,job=pixelmill,le=+Inf	$cpu_jobs" \
  'pixelmill_cpu_queue_wait_seconds_bucket{le="+Inf"} differs from its _count'
expect 'sum by (outcome) (pixelmill_cpu_jobs_total{job="pixelmill"})' \
  "$(printf 'outcome=%s\t%s\n' cancelled 0 'done' "$cpu_jobs" failed 0 rejected 0 | sort)" \
  'pixelmill_cpu_jobs_total by outcome'
expect '{__name__=~"pixelmill_cache_(hits|misses)_total", job="pixelmill"}' \
  "$(printf '__name__=%s,instance=127.0.0.1:%s,job=pixelmill\t%s\n' \
     pixelmill_cache_hits_total "$port" 1 pixelmill_cache_misses_total "$port" "${#ids[@]}" | sort)" \
  'variant cache hits/misses'
expect 'pixelmill_images_stored{job="pixelmill"}' \
  "__name__=pixelmill_images_stored,instance=127.0.0.1:$port,job=pixelmill	$((${#ids[@]} - 1))" 'images stored after one delete'

# I/O lag: one histogram per I/O thread, all 17 buckets, and heartbeats observed
# (every 10 ms; the server has been up for seconds, so at least 100 per thread).
expected_threads=$(for ((t = 0; t < io_threads; t++)); do printf 'thread=io-%d\t17\n' "$t"; done)
each_thread=$(for ((t = 0; t < io_threads; t++)); do printf 'thread=io-%d\t1\n' "$t"; done)
expect 'count by (thread) (pixelmill_io_loop_lag_seconds_bucket{job="pixelmill"})' \
  "$expected_threads" "pixelmill_io_loop_lag_seconds_bucket: not 17 buckets for each of $io_threads I/O threads"
expect 'count by (thread) (pixelmill_io_loop_lag_seconds_bucket{job="pixelmill", le="+Inf"} >= 100)' \
  "$each_thread" \
  'pixelmill_io_loop_lag_seconds_bucket{le="+Inf"}: fewer than 100 heartbeats on some I/O thread'
expect 'count by (thread) (pixelmill_io_loop_lag_seconds_bucket{job="pixelmill", le="+Inf"} == ignoring(le) pixelmill_io_loop_lag_seconds_count)' \
  "$each_thread" \
  'pixelmill_io_loop_lag_seconds: bucket{le="+Inf"} differs from _count'

# --- recording rules and alerts, live -----------------------------------------------------
# Rules run every 5 s and a rate needs two samples, so poll (20 s at most) until an
# evaluation has seen the traffic. The test sent client requests on both sides of a
# scrape, none answered 5xx, and no image job was refused: both ratios must be
# exactly 0 (not NaN, not missing). Sequential requests on 2 CPU threads leave the
# queue (nearly) empty.
deadline=$((SECONDS + 20))
while :; do
  now=$(date +%s.%N)
  rate=$(query 'job:pixelmill_http_requests:rate1m{job="pixelmill"}' "$now" | cut -f2)
  lag_series=$(query 'count(instance_thread:pixelmill_io_loop_lag_seconds:p99_1m{job="pixelmill"} >= 0)' "$now" | cut -f2)
  ratio_5xx=$(query 'job:pixelmill_http_5xx:ratio_rate5m{job="pixelmill"}' "$now" | cut -f2)
  rejected=$(query 'instance:pixelmill_cpu_jobs_rejected:ratio_rate5m{job="pixelmill"}' "$now" | cut -f2)
  saturation=$(query 'instance:pixelmill_cpu_queue_saturation:avg1m{job="pixelmill"}' "$now" | cut -f2)
  if [[ -n $rate && $rate != 0 && $rate != NaN && $lag_series == "$io_threads" && $ratio_5xx == 0 &&
        $rejected == 0 ]] && awk -v v="${saturation:-x}" 'BEGIN { exit !(v ~ /^[0-9.e+-]+$/ && v >= 0 && v <= 0.5) }'; then
    break
  fi
  ((SECONDS < deadline)) || fail "recording rules in the live Prometheus, after 20 s:
  job:pixelmill_http_requests:rate1m = ${rate:-none} (expected > 0)
  instance_thread:pixelmill_io_loop_lag_seconds:p99_1m: ${lag_series:-no} series (expected $io_threads)
  job:pixelmill_http_5xx:ratio_rate5m = ${ratio_5xx:-none} (expected 0)
  instance:pixelmill_cpu_jobs_rejected:ratio_rate5m = ${rejected:-none} (expected 0)
  instance:pixelmill_cpu_queue_saturation:avg1m = ${saturation:-none} (expected 0..0.5)"
  sleep 1
done
say "recording rules: $rate requests/s, 5xx ratio $ratio_5xx, rejected ratio $rejected, queue saturation $saturation, p99 lag on $lag_series threads"
rules=$(curl -fsS "$prom/api/v1/rules")
bad=$(jq -r '.data.groups[].rules[] | select(.health != "ok") | "\(.name): \(.health) \(.lastError // "")"' <<< "$rules")
[[ -z $bad ]] || fail "rules not evaluating cleanly in the live Prometheus:
$bad"
n_rules=$(jq '[.data.groups[].rules[]] | length' <<< "$rules")
n_file=$(grep -cE '^ *- (record|alert):' "$prom_src/rules.yml")
[[ $n_rules == "$n_file" ]] || fail "the live Prometheus loaded $n_rules rules, rules.yml has $n_file"
firing=$(jq -r '[.data.groups[].rules[] | select(.type == "alerting" and .state != "inactive") | "\(.name) (\(.state))"] | join(", ")' <<< "$rules")
say "$n_rules rules evaluate cleanly; alerts pending or firing: ${firing:-none}"

say "PASS in $((SECONDS - started)) s: up == 1; http_requests_total = ${#sent[@]} label sets exactly" \
  "(incl. $((scrapes - 1)) earlier Prometheus scrapes); cpu_queue_wait_count = $cpu_jobs; lag histograms on $io_threads I/O threads;" \
  "recording rules live"
