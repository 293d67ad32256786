#!/usr/bin/env bash
# bench/acme/run.sh: ACME figures of custos.
#  1. In-process device-attest-01 orders (acme_bench): orders per second and server CPU per order.
#  2. http-01 orders by Debian's `lego` against custos and against Debian's `pebble` (the ACME
#     test server of Let's Encrypt), same client, same TLS setup (both serve ACME over HTTPS with
#     the same throw-away certificate), same number of orders, one new domain per order; server
#     CPU per order from /proc/PID/stat (utime+stime) around the whole run; ratio printed with the
#     target custos <= 1/5 of pebble.
#
#  3. The floor: what any server must spend per lego order with this OpenSSL, SQLite and kernel
#     (acme_floor_bench prices each unavoidable operation; custos' /metrics counts how many
#     requests and TLS connections the orders took), printed against pebble's CPU per order.
#     The stack floor adds what custos' libraries (OpenSSL's record layer, Beast, nlohmann::json,
#     SQLite, libcurl) ask per request when used as lightly as they allow (acme_stack_bench).
#     Both are priced twice: with warm caches, and with caches evicted before each operation,
#     which is how the server meets each of lego's requests (bench/acme/cpu_timing.h).
#
#   bench/acme/run.sh [BUILD_DIR]     (ORDERS=20 lego orders, DEVICE_ORDERS=200 by default)
# PERF_DIR=DIR records each server under `perf record` at PERF_FREQ Hz (999); SERVERS="custos"
# skips pebble (and the ratio), DEVICE_ORDERS=0 skips the in-process part: both for profiling.
# Everything listens on 127.0.0.1; pebble resolves names through pebble-challtestsrv's DNS, which
# answers 127.0.0.1 for every name; custos maps every name there with [acme] http01_target.
# Every process started here is stopped by its PID on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
custos=${CUSTOS_BIN:-$build/custos}
bench=${ACME_BENCH_BIN:-$build/bench/acme/acme_bench}
floor_bench=${ACME_FLOOR_BENCH_BIN:-$build/bench/acme/acme_floor_bench}
stack_bench=${ACME_STACK_BENCH_BIN:-$build/bench/acme/acme_stack_bench}
orders=${ORDERS:-20}
device_orders=${DEVICE_ORDERS:-200}

# work, pids, cleanup (on EXIT), free_port, wait_url, cpu_ticks
source "$root/bench/lib.sh"
bench_setup acme
hz=$(getconf CLK_TCK)

# lego_orders NAME DIRECTORY_URL PID: ORDERS sequential certificate orders; prints CPU ms/order.
lego_orders() {
  local name=$1 url=$2 pid=$3 challenge_port=$4
  local before after failed=0
  local perf_pid=""
  if [ -n "${PERF_DIR:-}" ]; then  # profile the server during its orders
    mkdir -p "$PERF_DIR"
    perf record -F "${PERF_FREQ:-999}" -g --call-graph dwarf,16384 -p "$pid" -o "$PERF_DIR/$name.data" \
      >"$PERF_DIR/$name.perf.log" 2>&1 &
    perf_pid=$!
    sleep 1
  fi
  before=$(cpu_ticks "$pid")
  local t0=$(date +%s.%N)
  for i in $(seq 1 "$orders"); do
    if ! LEGO_CA_CERTIFICATES="$work/tls.pem" lego --server "$url" --email bench@example.com \
        --accept-tos --key-type ec256 --domains "d$i.$name.test" --http \
        --http.port "127.0.0.1:$challenge_port" --path "$work/lego-$name" run \
        >>"$work/lego-$name.log" 2>&1; then
      failed=$((failed + 1))
    fi
  done
  local t1=$(date +%s.%N)
  after=$(cpu_ticks "$pid")
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
  local ok=$((orders - failed))
  [ "$ok" -gt 0 ] || { echo "run.sh: every lego order against $name failed:" >&2; tail -20 "$work/lego-$name.log" >&2; return 1; }
  local ms=$(awk -v a="$after" -v b="$before" -v hz="$hz" -v n="$ok" 'BEGIN {printf "%.2f", (a-b)*1000/hz/n}')
  echo "${name}_orders_ok: $ok/$orders"
  echo "${name}_wall_seconds: $(awk -v a="$t1" -v b="$t0" 'BEGIN {printf "%.1f", a-b}')"
  echo "${name}_server_cpu_ms_per_order: $ms"
  echo "$ms" >"$work/$name.cpu"
  echo "$ok" >"$work/$name.ok"
}

for bin in "$custos" "$bench" "$floor_bench" "$stack_bench"; do
  [ -x "$bin" ] || { echo "run.sh: $bin missing (build custos, acme_bench, acme_floor_bench and acme_stack_bench)" >&2; exit 1; }
done
for p in lego pebble pebble-challtestsrv openssl curl python3; do
  command -v "$p" >/dev/null || { echo "run.sh: $p missing (scripts/install-deps.sh)" >&2; exit 1; }
done

if [ "$device_orders" -gt 0 ]; then
  echo "== device-attest-01, in process ($device_orders orders)"
  "$bench" --orders "$device_orders"
fi

# One throw-away TLS certificate for both servers' ACME listeners, trusted by lego.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$work/tls.key" -out "$work/tls.pem" \
  2>/dev/null

echo "== custos, lego http-01 ($orders orders)"
http_port=$(free_port)
tls_port=$(free_port)
challenge_port=$(free_port)
"$custos" serve --data-dir "$work/custos" --listen "127.0.0.1:$http_port" \
  --url "https://127.0.0.1:$tls_port" --log-level warn \
  --set "tls.listen=127.0.0.1:$tls_port" --set "tls.cert_file=$work/tls.pem" \
  --set "tls.key_file=$work/tls.key" --set "acme.http01_target=127.0.0.1:$challenge_port" \
  --set http.access_log=false >"$work/custos.log" 2>&1 &
custos_pid=$!
pids+=("$custos_pid")
wait_url "https://127.0.0.1:$tls_port/acme/directory"
# acme_counts: "REQUESTS POSTS TLS_CONNECTIONS" so far, from custos' /metrics (plain listener).
acme_counts() {
  curl -sf "http://127.0.0.1:$http_port/metrics" | awk '
    /^custos_http_requests_total\{route="\/acme\// { requests += $NF; if ($0 ~ /method="POST"/) posts += $NF }
    /^custos_http_connections_total\{listener="https"\}/ { tls = $NF }
    END { printf "%d %d %d\n", requests, posts, tls }'
}
read -r requests0 posts0 tls0 <<<"$(acme_counts)"
lego_orders custos "https://127.0.0.1:$tls_port/acme/directory" "$custos_pid" "$challenge_port"
read -r requests1 posts1 tls1 <<<"$(acme_counts)"
custos_ok=$(cat "$work/custos.ok")

[[ " ${SERVERS:-custos pebble} " == *" pebble "* ]] || exit 0

echo "== pebble, lego http-01 ($orders orders)"
dns_port=$(free_port)
chall_mgmt=$(free_port)
pebble_port=$(free_port)
pebble_mgmt=$(free_port)
pebble_tls=$(free_port)
challenge_port=$(free_port)
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns_port" \
  -http01 "" -https01 "" -tlsalpn01 "" -management "127.0.0.1:$chall_mgmt" \
  >"$work/challtestsrv.log" 2>&1 &
pids+=("$!")
cat >"$work/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$pebble_port",
            "managementListenAddress": "127.0.0.1:$pebble_mgmt",
            "certificate": "$work/tls.pem", "privateKey": "$work/tls.key",
            "httpPort": $challenge_port, "tlsPort": $pebble_tls,
            "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
  pebble -config "$work/pebble.json" -dnsserver "127.0.0.1:$dns_port" >"$work/pebble.log" 2>&1 &
pebble_pid=$!
pids+=("$pebble_pid")
wait_url "https://127.0.0.1:$pebble_port/dir"
lego_orders pebble "https://127.0.0.1:$pebble_port/dir" "$pebble_pid" "$challenge_port"

ratio=$(awk -v c="$(cat "$work/custos.cpu")" -v p="$(cat "$work/pebble.cpu")" 'BEGIN {printf "%.3f", c/p}')

echo "== floor: the unavoidable work of one lego order, priced on this machine"
echo "-- warm caches (each operation repeated back to back)"
"$floor_bench" | tee "$work/floor.txt"
"$stack_bench" | tee "$work/stack.txt"
echo "-- cold caches (caches evicted before each operation, as during the lego orders)"
"$floor_bench" --cold | tee "$work/floor-cold.txt"
"$stack_bench" --cold | tee "$work/stack-cold.txt"
# floor_lines SUFFIX FLOOR_FILE STACK_FILE: the per-order floor and stack floor from those prices.
floor_lines() {
  local suffix=$1 floor_file=$2 stack_file=$3
  price() { awk -v k="$1:" '$1 == k {print $2}' "$floor_file" "$stack_file"; }
  awk -v n="$custos_ok" -v req=$((requests1 - requests0)) -v posts=$((posts1 - posts0)) \
      -v tls=$((tls1 - tls0)) -v verify="$(price es256_verify_us)" -v sign="$(price rsa2048_sign_us)" \
      -v hs="$(price tls13_handshake_server_us)" -v commit="$(price sqlite_commit_us)" \
      -v xchg="$(price loopback_exchange_us)" -v fetch="$(price http01_fetch_us)" \
      -v records="$(price tls_records_server_us)" -v beast="$(price beast_http_us)" \
      -v json="$(price json_jws_us)" -v readtx="$(price sqlite_read_tx_us)" \
      -v curl="$(price curl_http01_fetch_us)" -v sfx="$suffix" \
      -v custos="$(cat "$work/custos.cpu")" -v pebble="$(cat "$work/pebble.cpu")" 'BEGIN {
    r = req / n; p = posts / n; t = tls / n
    # The floor: each signed POST and the CSR, one signature check; one certificate signature; one
    # handshake per connection; one loopback exchange per request; one http-01 fetch; three durable
    # commits: the new order, the validation result, the issued certificate (what a restart must keep).
    us = (p + 1) * verify + sign + t * hs + r * xchg + fetch + 3 * commit
    printf "floor%s_ms_per_order: %.2f (signatures %.2f, certificate %.2f, TLS handshakes %.2f, exchanges %.2f, http-01 fetch %.2f, commits %.2f)\n", \
      sfx, us / 1000, (p + 1) * verify / 1000, sign / 1000, t * hs / 1000, r * xchg / 1000, fetch / 1000, 3 * commit / 1000
    printf "floor%s_over_pebble: %.3f\n", sfx, us / 1000 / pebble
    # The stack floor adds what the libraries ask per request used as lightly as they allow: TLS
    # records and HTTP for every request, the JWS JSON and one read transaction for every signed POST,
    # and libcurl instead of a bare socket for the fetch.
    stack = us + r * (records + beast) + p * (json + readtx) + (curl - fetch)
    printf "stack_floor%s_ms_per_order: %.2f (TLS records %.2f, HTTP %.2f, JSON %.2f, read transactions %.2f, libcurl %.2f)\n", \
      sfx, stack / 1000, r * records / 1000, r * beast / 1000, p * json / 1000, p * readtx / 1000, (curl - fetch) / 1000
    printf "stack_floor%s_over_pebble: %.3f\n", sfx, stack / 1000 / pebble
    printf "custos_over_floor%s: %.2f, over_stack_floor%s: %.2f\n", sfx, custos * 1000 / us, sfx, custos * 1000 / stack
  }'
}
echo "-- per order"
floor_lines "" "$work/floor.txt" "$work/stack.txt"
floor_lines "_cold" "$work/floor-cold.txt" "$work/stack-cold.txt"
echo "server_cpu_per_order_custos_over_pebble: $ratio (target <= 0.200)"
if awk -v r="$ratio" 'BEGIN {exit !(r <= 0.2)}'; then echo "PASS"; else echo "FAIL"; fi
