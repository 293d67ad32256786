#!/usr/bin/env bash
# bench/mdm: signed Idle polls per second of N simulated enrolled devices against `custos serve`
# (issue 4, "Benchmarks"), with the /healthz rate of the same server in the same run as the
# baseline, on SQLite and on PostgreSQL.
#
#   bench/mdm/run.sh BUILD_DIR
#
# Each device (tests/devicesim, via BUILD_DIR/.../mdm_bench) downloads the profile, enrols over
# SCEP, Authenticates and sends TokenUpdate, then signs its unchanging Idle body ONCE; wrk replays
# every device's signed Idle round-robin (the load generator shares the server's cores); custos
# verifies every request in full (CMS signature over the body, chain verdict cached per
# certificate for mdm device-auth's 5 s TTL, enrollment association, queue lookup). Then command
# round trips (enqueue, Idle -> command -> Acknowledged, each request freshly signed).
# PostgreSQL: uses CUSTOS_TEST_PG_DSN when set, else runs itself again under
# scripts/with-postgres.sh (skipped when PostgreSQL is not installed).
# Environment: DEVICES (100), THREADS (server threads, 2), WRK_THREADS (2), CONNECTIONS (64),
# DURATION (10s), ROUNDTRIPS (per device, 2), DRIVERS ("sqlite postgres"), PERF_DIR (when set:
# `perf record -g --call-graph dwarf` of the server during the Idle run, to PERF_DIR/DRIVER.data).
# Target: at least 10,000 signed Idle polls per second on SQLite.
set -euo pipefail

BUILD_DIR=${1:?usage: bench/mdm/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEVICES=${DEVICES:-100}
THREADS=${THREADS:-2}
WRK_THREADS=${WRK_THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
ROUNDTRIPS=${ROUNDTRIPS:-2}
DRIVERS=${DRIVERS:-sqlite postgres}
TARGET=10000
API_KEY=bench-mdm-api-key-0123456789
TOPIC=com.apple.mgmt.External.bench-mdm

CUSTOS_BIN="$BUILD_DIR/custos"
BENCH_BIN=$(find "$BUILD_DIR" -name mdm_bench -type f -perm -u+x 2>/dev/null | head -1)
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench/mdm: $tool is not installed" >&2; exit 2; }
done
[ -x "$CUSTOS_BIN" ] || { echo "bench/mdm: $CUSTOS_BIN not built" >&2; exit 2; }
[ -n "$BENCH_BIN" ] || { echo "bench/mdm: mdm_bench not built (-DCUSTOS_BENCH=ON)" >&2; exit 2; }

# PostgreSQL needs a server: re-run this script for that driver under with-postgres.sh.
if [[ " $DRIVERS " == *" postgres "* ]] && [ -z "${CUSTOS_TEST_PG_DSN:-}" ]; then
  DRIVERS_LEFT=${DRIVERS//postgres/}
  status=0
  if [ -n "${DRIVERS_LEFT// /}" ]; then DRIVERS="$DRIVERS_LEFT" bash "$0" "$BUILD_DIR" || status=1; fi
  if ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    DRIVERS=postgres "$ROOT/scripts/with-postgres.sh" bash "$0" "$BUILD_DIR" || status=1
  else
    echo "bench/mdm: PostgreSQL not installed; postgres skipped"
  fi
  exit $status
fi

TMP=$(mktemp -d /tmp/custos-bench-mdm.XXXXXX)
CUSTOS_PID=""
cleanup() {
  if [ -n "$CUSTOS_PID" ]; then kill "$CUSTOS_PID" 2>/dev/null && wait "$CUSTOS_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wrk -> "requests/s p50 p99 non2xx"
run_wrk() {  # URL [LUA]
  local lua=()
  [ -n "${2:-}" ] && lua=(-s "$2")
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${lua[@]}" "$1" >"$TMP/wrk.out" 2>&1 || true
  local non2xx
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$TMP/wrk.out")
  awk -v bad="${non2xx:-0}" '
    /^Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    END { printf "%s %s %s %s\n", rps, p50, p99, bad }' "$TMP/wrk.out"
}

echo "bench/mdm: $DEVICES devices, wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION," \
     "$THREADS server threads, $(nproc) cores shared by server and load generator"
FAILED=0
for driver in $DRIVERS; do
  rm -rf "$TMP/data"; mkdir -p "$TMP/data"
  port=$(free_port)
  storage=()
  if [ "$driver" = postgres ]; then
    storage=(--set storage.driver=postgres --set "storage.dsn=$CUSTOS_TEST_PG_DSN")
  fi
  CUSTOS_SERVER_THREADS=$THREADS CUSTOS_HTTP_ACCESS_LOG=false CUSTOS_LOG_LEVEL=warn \
    "$CUSTOS_BIN" serve --data-dir "$TMP/data" --listen "127.0.0.1:$port" \
      --set "enroll.topic=$TOPIC" --set "api.key=$API_KEY" "${storage[@]}" \
      >"$TMP/custos.log" 2>&1 &
  CUSTOS_PID=$!
  url="http://127.0.0.1:$port"
  for _ in $(seq 1 1200); do
    curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && break
    kill -0 "$CUSTOS_PID" 2>/dev/null || { echo "bench/mdm: custos exited:"; cat "$TMP/custos.log"; exit 1; }
    sleep 0.1
  done

  echo "== $driver"
  if ! "$BENCH_BIN" --url "$url" --devices "$DEVICES" --lua "$TMP/idle.lua" \
        | sed 's/^/  /'; then
    echo "bench/mdm: enrolling the simulated devices failed; custos log:" >&2
    tail -n 30 "$TMP/custos.log" >&2
    exit 1
  fi

  read -r h_rps h_p50 h_p99 h_bad < <(run_wrk "$url/healthz")
  perf_pid=""
  if [ -n "${PERF_DIR:-}" ]; then
    mkdir -p "$PERF_DIR"
    perf record -F 499 -g --call-graph dwarf,16384 -p "$CUSTOS_PID" -o "$PERF_DIR/$driver.data" \
      >"$PERF_DIR/$driver.perf.log" 2>&1 &
    perf_pid=$!
    sleep 1
  fi
  cpu0=$(awk '{print $14 + $15}' "/proc/$CUSTOS_PID/stat")
  read -r i_rps i_p50 i_p99 i_bad < <(run_wrk "$url/mdm/connect" "$TMP/idle.lua")
  cpu1=$(awk '{print $14 + $15}' "/proc/$CUSTOS_PID/stat")
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
  printf '  /healthz (baseline)  %10.0f req/s   p50 %8s   p99 %8s\n' "$h_rps" "$h_p50" "$h_p99"
  printf '  signed Idle polls    %10.0f req/s   p50 %8s   p99 %8s   (%s non-2xx)   %.0f%% of /healthz\n' \
    "$i_rps" "$i_p50" "$i_p99" "$i_bad" "$(awk -v a="$i_rps" -v b="$h_rps" 'BEGIN { print b ? 100 * a / b : 0 }')"
  awk -v c="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" -v r="$i_rps" -v d="${DURATION%s}" \
    'BEGIN { if (r > 0) printf "  server CPU           %10.1f us per Idle poll (%.2f cores busy; load average %s)\n", c * 1e6 / hz / (r * d), c / hz / d, "'"$(cut -d' ' -f1-3 /proc/loadavg)"'" }'
  if [ "${i_bad:-0}" != 0 ]; then
    echo "  !! non-2xx answers to signed Idle polls; custos log:"; tail -n 5 "$TMP/custos.log"
    FAILED=1
  fi
  if [ "$driver" = sqlite ]; then
    verdict=$(awk -v r="$i_rps" -v t="$TARGET" 'BEGIN { print (r >= t) ? "PASS" : "FAIL" }')
    [ "$verdict" = FAIL ] && FAILED=1
    echo "  $verdict: signed Idle polls on SQLite (target >= $TARGET/s)"
  fi
  if [ "$ROUNDTRIPS" -gt 0 ]; then
    "$BENCH_BIN" --url "$url" --devices "$(( DEVICES < 100 ? DEVICES : 100 ))" --lua "$TMP/rt.lua" \
      --api-key "$API_KEY" --roundtrips "$ROUNDTRIPS" | grep -v '^enrolled' | sed 's/^/  /' || FAILED=1
  fi
  kill "$CUSTOS_PID"; wait "$CUSTOS_PID" 2>/dev/null || true; CUSTOS_PID=""
done
exit "$FAILED"
