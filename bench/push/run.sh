#!/usr/bin/env bash
# bench/push: pushes per second through custos' APNs provider (src/push/apns.h) over HTTP/2 with
# client-certificate TLS, to a fake APNs on loopback (issue 4, "Benchmarks": target 50,000/s).
#
#   bench/push/run.sh BUILD_DIR        (BUILD_DIR configured with -DCUSTOS_BENCH=ON)
#
# The receiver is nginx (one worker, HTTP/2 over TLS): cheap per request, and it answers like
# APNs: 200 with an apns-id header, and 410 {"reason":"Unregistered","timestamp":...} for tokens
# starting with DE AD (every GONE_EVERY-th push of the run).
#   0. the machine: cores and load average (the cores are shared with whatever else runs).
#   1. h2load -> nginx alone, same connections and streams: the receiver's ceiling, the baseline.
#      (h2load cannot present a client certificate: it uses a second port without
#      ssl_verify_client; everything else is identical.)
#   2. provider -> nginx with ssl_verify_client on: pushes/s, the provider's CPU us per push and
#      nginx's CPU us per push (its worker's utime+stime over the run). The access log is then
#      counted to check every push arrived with apns-topic, apns-push-type and the push
#      certificate's subject.
#   3. (PY_PUSHES > 0) provider -> tests/fakeapns/fake_apns.py, the fake the tests use, and
#      h2load -> that fake alone: pure Python, far slower, shown for reference.
# Environment: PUSHES (runs 1-2, default 300000), STREAMS (HTTP/2 streams per connection, 1000),
# CONNECTIONS (2), BATCH (pushes per Push call, 1000), GONE_EVERY (100; 0 = none),
# PY_PUSHES (run 3, default 0 = skipped), PUSH_BENCH (another push_bench binary), NICE (default 0). With NICE set (root may pass a
# negative one, e.g. NICE=-20) the script runs in a session of its own and gives that session's
# scheduler autogroup this nice value (Linux autogroups each session: a plain nice(1) only ranks
# processes within their own session, so against other sessions' compile jobs it does nothing).
# That measures what the two cores do for this benchmark while other normal-priority work
# competes for them; the summary says which was used.
set -euo pipefail

BUILD_DIR=${1:?usage: bench/push/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${PUSH_BENCH:-$BUILD_DIR/bench/push/push_bench}  # PUSH_BENCH: compare another build
PUSHES=${PUSHES:-300000}
PY_PUSHES=${PY_PUSHES:-0}
STREAMS=${STREAMS:-1000}
CONNECTIONS=${CONNECTIONS:-2}
BATCH=${BATCH:-1000}
GONE_EVERY=${GONE_EVERY:-100}
PYTHON=${CUSTOS_PYTHON:-/usr/bin/python3}
TARGET=50000
NICE=${NICE:-0}
if [ "$NICE" != 0 ] && [ -z "${CUSTOS_BENCH_SESSION:-}" ]; then
  exec setsid --wait env CUSTOS_BENCH_SESSION=1 "$0" "$@"
fi
if [ -n "${CUSTOS_BENCH_SESSION:-}" ]; then
  if ! echo "$NICE" 2>/dev/null > /proc/self/autogroup; then
    echo "bench/push: could not set the autogroup nice value (not root, or autogroups disabled)" >&2
  fi
fi
RUN=(nice -n "$NICE")

[ -x "$BENCH" ] || { echo "bench/push: $BENCH not built (configure with -DCUSTOS_BENCH=ON)" >&2; exit 2; }
for tool in nginx curl h2load; do
  command -v "$tool" >/dev/null || { echo "bench/push: $tool is not installed" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/custos-bench-push.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  if [ -n "${KEEP_TMP:-}" ]; then echo "bench/push: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop_pid() {  # PID
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=()
  for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && kept+=("$p"); done
  PIDS=("${kept[@]:-}")
}

rate_of() { sed -n 's/.*pushes_per_second=\([0-9]*\).*/\1/p'; }
h2load_rate_of() { sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in clock ticks
TICK_US=$((1000000 / $(getconf CLK_TCK)))
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== 0. machine: $(nproc) cores, load average $(loadavg) (1/5/15 min); scheduler group $(cat /proc/self/autogroup 2>/dev/null || echo '?')"

mkdir -p "$TMP/pki" "$TMP/nginx/logs"
"$BENCH" --write-pki "$TMP/pki"

PORT=$(free_port)
H2LOAD_PORT=$(free_port)
# One server block per port; they differ only in ssl_verify_client.
server_block() {  # PORT VERIFY
  cat <<EOF
  server {
    listen 127.0.0.1:$1 ssl http2;
    ssl_certificate $TMP/pki/server.pem;
    ssl_certificate_key $TMP/pki/server.key;
    ssl_client_certificate $TMP/pki/push-ca.pem;
    ssl_verify_client $2;
    http2_max_concurrent_streams $((STREAMS * 2));
    location ~ ^/3/device/dead {
      add_header apns-id \$request_id always;
      default_type application/json;
      return 410 '{"reason":"Unregistered","timestamp":1700000000000}';
    }
    location /3/device/ {
      add_header apns-id \$request_id always;
      return 200;
    }
  }
EOF
}
cat > "$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log ${NGINX_LOG_LEVEL:-warn};
events { worker_connections 1024; }
http {
  log_format apns '\$request_method \$uri \$status \$http_apns_topic \$http_apns_push_type "\$ssl_client_s_dn"';
  access_log $TMP/nginx/logs/access.log apns buffer=256k flush=1s;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
$(server_block "$PORT" on)
$(server_block "$H2LOAD_PORT" off)
}
EOF
"${RUN[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx.conf" 2>"$TMP/nginx/logs/stderr.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
ready=0
for _ in $(seq 1 100); do
  code=$(curl --http2 -sS -o /dev/null -w '%{http_code}' --cacert "$TMP/pki/server-ca.pem" \
    --cert "$TMP/pki/push.pem" -X POST -d '{"mdm":"x"}' "https://127.0.0.1:$PORT/3/device/00" 2>/dev/null || true)
  if [ "$code" = "200" ]; then ready=1; break; fi
  kill -0 "$NGINX_PID" 2>/dev/null || break
  sleep 0.1
done
[ "$ready" = 1 ] || { echo "bench/push: nginx did not start" >&2; cat "$TMP/nginx/logs/"*.log >&2; exit 1; }
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
probe=$(curl --http2 -sS -w ' HTTP %{http_code}' --cacert "$TMP/pki/server-ca.pem" --cert "$TMP/pki/push.pem" \
  -X POST -d '{"mdm":"x"}' "https://127.0.0.1:$PORT/3/device/deadbeef")
echo "receiver: $(nginx -v 2>&1), 1 worker; a push to a DE AD token answers: $probe"

# --- 1. h2load -> nginx alone ---------------------------------------------------------------------
echo '{"mdm":"bench"}' > "$TMP/body.json"
echo "== 1. h2load -> nginx alone ($CONNECTIONS connections x $STREAMS streams), $PUSHES requests"
w0=$(cpu_ticks "$NGINX_WORKER")
H2LOAD_OUT=$("${RUN[@]}" h2load -n "$PUSHES" -c "$CONNECTIONS" -m "$STREAMS" -d "$TMP/body.json" \
  -H 'apns-push-type: mdm' -H 'apns-priority: 10' -H 'apns-topic: bench' \
  "https://127.0.0.1:$H2LOAD_PORT/3/device/00aa" 2>&1)
w1=$(cpu_ticks "$NGINX_WORKER")
echo "$H2LOAD_OUT" | grep -E '^finished in|^requests:|^status codes:'
H2LOAD_NGINX_US=$(( (w1 - w0) * TICK_US / PUSHES ))
echo "nginx worker CPU: ${H2LOAD_NGINX_US} us per request; load average now $(loadavg)"

# --- 2. provider -> nginx -------------------------------------------------------------------------
echo "== 2. provider -> nginx (client certificate required), $PUSHES pushes$( [ "$GONE_EVERY" -gt 0 ] && echo ", 1 in $GONE_EVERY answered 410")"
w0=$(cpu_ticks "$NGINX_WORKER")
NGINX_OUT=$("${RUN[@]}" "$BENCH" --url "https://127.0.0.1:$PORT" --pki "$TMP/pki" --pushes "$PUSHES" \
  --streams "$STREAMS" --connections "$CONNECTIONS" --batch "$BATCH" --gone-every "$GONE_EVERY")
w1=$(cpu_ticks "$NGINX_WORKER")
echo "$NGINX_OUT"
WARM=$(( STREAMS * CONNECTIONS < 2000 ? STREAMS * CONNECTIONS : 2000 ))
PROVIDER_NGINX_US=$(( (w1 - w0) * TICK_US / PUSHES ))
PROVIDER_US=$(echo "$NGINX_OUT" | sed -n 's/.*client_cpu_us_per_push=\([0-9.]*\).*/\1/p')
echo "nginx worker CPU: ${PROVIDER_NGINX_US} us per push (the $WARM warm-up pushes included); load average now $(loadavg)"
sleep 1.5  # the access log is flushed every second
stop_pid "$NGINX_PID"
ARRIVED=$(grep -c ' \(200\|410\) com.apple.mgmt.External.[^ ]* mdm "[^"]*UID=com.apple.mgmt' "$TMP/nginx/logs/access.log" || true)
echo "nginx access log: $ARRIVED pushes answered with apns-topic, apns-push-type mdm and the push certificate subject (expected $((PUSHES + WARM)): $PUSHES measured + $WARM warm-up)"

# --- 3. the Python fake (optional) ----------------------------------------------------------------
PY_RATE="" H2LOAD_PY_RATE=""
if [ "$PY_PUSHES" -gt 0 ]; then
  echo "== 3a. provider -> tests/fakeapns/fake_apns.py, $PY_PUSHES pushes"
  PY_OUT=$(CUSTOS_SOURCE_DIR="$SRC" CUSTOS_PYTHON="$PYTHON" "$BENCH" --pushes "$PY_PUSHES" \
    --streams "$STREAMS" --connections "$CONNECTIONS" --batch "$BATCH")
  echo "$PY_OUT"
  echo "== 3b. h2load -> fake_apns.py alone, $PY_PUSHES requests"
  "$PYTHON" "$SRC/tests/fakeapns/fake_apns.py" --cert "$TMP/pki/server.pem" --key "$TMP/pki/server.key" \
    --client-ca "$TMP/pki/push-ca.pem" --client-cert-optional --no-memory --max-streams "$STREAMS" \
    > "$TMP/fake.out" &
  FAKE_PID=$!
  PIDS+=("$FAKE_PID")
  for _ in $(seq 1 100); do grep -q '^PORT' "$TMP/fake.out" 2>/dev/null && break; sleep 0.1; done
  FAKE_PORT=$(sed -n 's/^PORT //p' "$TMP/fake.out")
  H2LOAD_PY_OUT=$(h2load -n "$PY_PUSHES" -c "$CONNECTIONS" -m 100 -d "$TMP/body.json" \
    -H 'apns-push-type: mdm' -H 'apns-priority: 10' "https://127.0.0.1:$FAKE_PORT/3/device/00aa" 2>&1)
  echo "$H2LOAD_PY_OUT" | grep -E '^finished in|^requests:|^status codes:'
  stop_pid "$FAKE_PID"
  PY_RATE=$(echo "$PY_OUT" | rate_of)
  H2LOAD_PY_RATE=$(echo "$H2LOAD_PY_OUT" | h2load_rate_of)
fi

NGINX_RATE=$(echo "$NGINX_OUT" | rate_of)
H2LOAD_RATE=$(echo "$H2LOAD_OUT" | h2load_rate_of)
echo
echo "summary (load average $(loadavg); nice $NICE):"
awk -v p="${NGINX_RATE:-0}" -v h="${H2LOAD_RATE:-0}" -v t="$TARGET" 'BEGIN {
  printf "  provider -> nginx %d pushes/s (target %d/s); h2load -> the same nginx %d req/s (baseline); ratio %.2f\n",
         p, t, h, (h > 0 ? p / h : 0) }'
awk -v a="${PROVIDER_US:-0}" -v b="$PROVIDER_NGINX_US" 'BEGIN {
  m = (a > b ? a : b)
  printf "  CPU per push: provider %.1f us + nginx %d us = %.1f us; on 2 otherwise idle cores that is %.0f pushes/s (sender and receiver each single-threaded: at most %.0f/s)\n",
         a, b, a + b, (a + b > 0 ? 2e6 / (a + b) : 0), (m > 0 ? 1e6 / m : 0) }'
if [ "$PY_PUSHES" -gt 0 ]; then
  echo "  provider -> python fake ${PY_RATE:-?}/s, h2load -> python fake ${H2LOAD_PY_RATE:-?}/s"
fi
if [ -n "${NGINX_RATE:-}" ] && [ "$NGINX_RATE" -ge "$TARGET" ]; then
  echo "target met"
else
  echo "target NOT met (wall clock, at this load average)"
fi
