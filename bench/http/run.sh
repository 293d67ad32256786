#!/usr/bin/env bash
# bench/http: requests per second of custos' GET /healthz versus nginx serving a small static file,
# both measured by wrk in the same run with the same threads and connections (issue 2, section 7).
# Target: custos reaches at least 70% of nginx.
#
#   bench/http/run.sh BUILD_DIR
#
# Serves with BUILD_DIR/custos serve when it exists, else BUILD_DIR/.../healthz_server (built with
# -DCUSTOS_BENCH=ON: it serves the same built-in routes through the same HttpServer).
# Two comparisons: access logs off on both sides, and access logs on (both to a file).
# Environment: THREADS (server threads / nginx workers, default 2), WRK_THREADS (2),
# CONNECTIONS (64), DURATION (10s), ROUNDS (2): each comparison alternates nginx and custos ROUNDS
# times and compares the mean requests/second, so load from other processes on a shared machine
# hits both sides alike.
set -euo pipefail

BUILD_DIR=${1:?usage: bench/http/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
THREADS=${THREADS:-2}
WRK_THREADS=${WRK_THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
TARGET_PERCENT=70

for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "bench/http: $tool is not installed" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/custos-bench-http.XXXXXX)
chmod 755 "$TMP"  # nginx workers may run as another user
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_ready() {  # URL PID [SECONDS]
  for _ in $(seq 1 $(( ${3:-10} * 10 ))); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "bench/http: server for $1 exited" >&2; return 1; }
    sleep 0.1
  done
  echo "bench/http: $1 not ready" >&2
  return 1
}

stop_pid() {  # PID
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=()
  for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && kept+=("$p"); done
  PIDS=("${kept[@]:-}")
}

cpu_ticks() {  # PID... -> user+system clock ticks of these processes and their children threads
  local total=0 pid t
  for pid in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}

run_wrk() {  # URL PID... -> prints "requests/second requests-per-server-CPU-second"
  local url=$1; shift
  local before after requests
  before=$(cpu_ticks "$@")
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$TMP/wrk.out" 2>&1 || true
  after=$(cpu_ticks "$@")
  if grep -qE 'Non-2xx|Socket errors' "$TMP/wrk.out"; then
    grep -E 'Non-2xx|Socket errors' "$TMP/wrk.out" | sed 's/^/    wrk: /' >&2
  fi
  requests=$(awk '/ requests in / {print $1}' "$TMP/wrk.out")
  awk -v r="$requests" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    '/^Requests\/sec:/ { printf "%s %.0f\n", $2, (t > 0 ? r * hz / t : 0) }' "$TMP/wrk.out"
}

# --- custos ---------------------------------------------------------------------------------------
CUSTOS_BIN="$BUILD_DIR/custos"
HEALTHZ_BIN=$(find "$BUILD_DIR" -name healthz_server -type f -perm -u+x 2>/dev/null | head -1)
if [ -x "$CUSTOS_BIN" ]; then
  SERVER_KIND="custos serve"
elif [ -n "$HEALTHZ_BIN" ]; then
  SERVER_KIND="healthz_server (HttpServer + built-in routes)"
else
  echo "bench/http: neither $CUSTOS_BIN nor healthz_server found in $BUILD_DIR" \
       "(configure with -DCUSTOS_BENCH=ON and build healthz_server)" >&2
  exit 2
fi

start_custos() {  # ACCESS_LOG(true|false) -> sets CUSTOS_PID, CUSTOS_URL
  local port; port=$(free_port)
  if [ -x "$CUSTOS_BIN" ]; then
    mkdir -p "$TMP/data"
    CUSTOS_SERVER_THREADS=$THREADS CUSTOS_HTTP_ACCESS_LOG=$1 \
      "$CUSTOS_BIN" serve --data-dir "$TMP/data" --listen "127.0.0.1:$port" \
      >"$TMP/custos-$1.log" 2>&1 &
  else
    local log=0; [ "$1" = true ] && log=1
    "$HEALTHZ_BIN" "127.0.0.1:$port" "$THREADS" "$log" >"$TMP/custos-$1.log" 2>&1 &
  fi
  CUSTOS_PID=$!
  PIDS+=("$CUSTOS_PID")
  CUSTOS_URL="http://127.0.0.1:$port/healthz"
  wait_ready "$CUSTOS_URL" "$CUSTOS_PID" 120  # the first start generates the CA
}

# --- nginx ----------------------------------------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx/html" "$TMP/nginx/logs"
printf 'ok' >"$TMP/nginx/html/healthz"
chmod -R a+rX "$TMP/nginx"

start_nginx() {  # ACCESS_LOG(true|false) -> sets NGINX_PID, NGINX_URL
  local access="access_log off;"
  [ "$1" = true ] && access="access_log $TMP/nginx/logs/access.log;"
  cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes $THREADS;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  $access
  client_body_temp_path $TMP/nginx/client_body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $TMP/nginx/html;
    default_type text/plain;
  }
}
EOF
  nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  NGINX_URL="http://127.0.0.1:$NGINX_PORT/healthz"
  wait_ready "$NGINX_URL" "$NGINX_PID"
}

echo "bench/http: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds;" \
     "$THREADS server threads / nginx workers"
echo "bench/http: custos side: $SERVER_KIND"
echo "bench/http: machine: $(nproc) cores (wrk shares them with the server)"

FAILED=0
for access_log in false true; do
  nginx_sum=0
  custos_sum=0
  nginx_cpu_sum=0
  custos_cpu_sum=0
  for round in $(seq 1 "$ROUNDS"); do
    start_nginx "$access_log"
    read -r nginx_rps nginx_cpu < <(run_wrk "$NGINX_URL" "$NGINX_PID" $(pgrep -P "$NGINX_PID")) || true
    stop_pid "$NGINX_PID"

    start_custos "$access_log"
    read -r custos_rps custos_cpu < <(run_wrk "$CUSTOS_URL" "$CUSTOS_PID") || true
    stop_pid "$CUSTOS_PID"

    if [ -z "$nginx_rps" ] || [ -z "$custos_rps" ]; then
      echo "bench/http: wrk produced no result:" >&2
      cat "$TMP/wrk.out" >&2
      exit 1
    fi
    echo "  round $round (access_log=$access_log): nginx $nginx_rps req/s ($nginx_cpu per CPU-s)," \
         "custos $custos_rps req/s ($custos_cpu per CPU-s)"
    nginx_sum=$(awk -v a="$nginx_sum" -v b="$nginx_rps" 'BEGIN { print a + b }')
    custos_sum=$(awk -v a="$custos_sum" -v b="$custos_rps" 'BEGIN { print a + b }')
    nginx_cpu_sum=$((nginx_cpu_sum + nginx_cpu))
    custos_cpu_sum=$((custos_cpu_sum + custos_cpu))
  done
  nginx_rps=$(awk -v s="$nginx_sum" -v n="$ROUNDS" 'BEGIN { print s / n }')
  custos_rps=$(awk -v s="$custos_sum" -v n="$ROUNDS" 'BEGIN { print s / n }')
  label="access log off"; [ "$access_log" = true ] && label="access log on "
  ratio=$(awk -v c="$custos_rps" -v n="$nginx_rps" 'BEGIN { printf "%.1f", 100 * c / n }')
  verdict=$(awk -v r="$ratio" -v t="$TARGET_PERCENT" 'BEGIN { print (r >= t) ? "PASS" : "FAIL" }')
  [ "$verdict" = FAIL ] && FAILED=1
  cpu_ratio=$(awk -v c="$custos_cpu_sum" -v n="$nginx_cpu_sum" 'BEGIN { printf "%.1f", n ? 100 * c / n : 0 }')
  printf '%s: mean nginx %10.0f req/s   custos %10.0f req/s   custos/nginx %5s%%   %s (target >= %d%%)\n' \
    "$label" "$nginx_rps" "$custos_rps" "$ratio" "$verdict" "$TARGET_PERCENT"
  echo "  (requests per server CPU-second, less sensitive to other load: custos/nginx ${cpu_ratio}%)"
done

if [ "$FAILED" = 0 ]; then
  echo "PASS: custos /healthz >= ${TARGET_PERCENT}% of nginx static file requests/second"
else
  echo "FAIL: custos /healthz below ${TARGET_PERCENT}% of nginx static file requests/second"
fi
exit "$FAILED"
