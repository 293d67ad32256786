#!/usr/bin/env bash
# bench/push: pushes per second through custos' APNs provider (src/push/apns.h) over HTTP/2 with
# client-certificate TLS, to a fake APNs on loopback (issue 4, "Benchmarks": target 50,000/s).
#
#   bench/push/run.sh BUILD_DIR        (BUILD_DIR configured with -DCUSTOS_BENCH=ON)
#
# Three measurements in one run, all on this machine's shared cores:
#   1. provider -> nginx (HTTP/2, ssl_verify_client on, `return 200`, buffered access log): the
#      provider's own ceiling, since nginx is far faster than the Python fake. The access log is
#      counted afterwards to check every push arrived with the push certificate's subject.
#   2. provider -> tests/fakeapns/fake_apns.py (the fake the tests use; pure-Python HTTP/2).
#   3. h2load -> fake_apns.py alone (h2load cannot present a client certificate, so the fake runs
#      with --client-cert-optional): the fake's own ceiling, to show which side limits run 2.
# Environment: PUSHES (run 1, default 200000), PY_PUSHES (runs 2 and 3, default 20000),
# STREAMS (HTTP/2 streams per connection, 1000), CONNECTIONS (2), BATCH (pushes per Push call, 1000).
set -euo pipefail

BUILD_DIR=${1:?usage: bench/push/run.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$BUILD_DIR/bench/push/push_bench"
PUSHES=${PUSHES:-200000}
PY_PUSHES=${PY_PUSHES:-20000}
STREAMS=${STREAMS:-1000}
CONNECTIONS=${CONNECTIONS:-2}
BATCH=${BATCH:-1000}
PYTHON=${CUSTOS_PYTHON:-/usr/bin/python3}
TARGET=50000

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

mkdir -p "$TMP/pki" "$TMP/nginx/logs"
"$BENCH" --write-pki "$TMP/pki"

# --- 1. provider -> nginx ---------------------------------------------------------------------
PORT=$(free_port)
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
  server {
    listen 127.0.0.1:$PORT ssl http2;
    ssl_certificate $TMP/pki/server.pem;
    ssl_certificate_key $TMP/pki/server.key;
    ssl_client_certificate $TMP/pki/push-ca.pem;
    ssl_verify_client on;
    http2_max_concurrent_streams $((STREAMS * 2));
    location /3/device/ {
      add_header apns-id \$request_id always;
      return 200;
    }
  }
}
EOF
nginx -p "$TMP/nginx" -c "$TMP/nginx.conf" 2>"$TMP/nginx/logs/stderr.log" &
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

echo "== 1. provider -> nginx (HTTP/2, client certificate required), $PUSHES pushes"
NGINX_OUT=$("$BENCH" --url "https://127.0.0.1:$PORT" --pki "$TMP/pki" --pushes "$PUSHES" \
  --streams "$STREAMS" --connections "$CONNECTIONS" --batch "$BATCH")
echo "$NGINX_OUT"
stop_pid "$NGINX_PID"
ARRIVED=$(grep -c ' 200 com.apple.mgmt.External.[^ ]* mdm "[^"]*UID=com.apple.mgmt' "$TMP/nginx/logs/access.log" || true)
WARM=$(( STREAMS * CONNECTIONS < 2000 ? STREAMS * CONNECTIONS : 2000 ))
echo "nginx access log: $ARRIVED pushes answered 200 with apns-topic, apns-push-type mdm and the push certificate subject (expected $((PUSHES + WARM)): $PUSHES measured + $WARM warm-up)"

# --- 2. provider -> fake_apns.py ----------------------------------------------------------------
echo "== 2. provider -> tests/fakeapns/fake_apns.py, $PY_PUSHES pushes"
PY_OUT=$(CUSTOS_SOURCE_DIR="$SRC" CUSTOS_PYTHON="$PYTHON" "$BENCH" --pushes "$PY_PUSHES" \
  --streams "$STREAMS" --connections "$CONNECTIONS" --batch "$BATCH")
echo "$PY_OUT"

# --- 3. h2load -> fake_apns.py alone ------------------------------------------------------------
echo "== 3. h2load -> fake_apns.py alone, $PY_PUSHES requests"
"$PYTHON" "$SRC/tests/fakeapns/fake_apns.py" --cert "$TMP/pki/server.pem" --key "$TMP/pki/server.key" \
  --client-ca "$TMP/pki/push-ca.pem" --client-cert-optional --no-memory --max-streams "$STREAMS" \
  > "$TMP/fake.out" &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
for _ in $(seq 1 100); do grep -q '^PORT' "$TMP/fake.out" 2>/dev/null && break; sleep 0.1; done
FAKE_PORT=$(sed -n 's/^PORT //p' "$TMP/fake.out")
echo '{"mdm":"bench"}' > "$TMP/body.json"
H2LOAD_OUT=$(h2load -n "$PY_PUSHES" -c "$CONNECTIONS" -m 100 -d "$TMP/body.json" \
  -H 'apns-push-type: mdm' -H 'apns-priority: 10' "https://127.0.0.1:$FAKE_PORT/3/device/00aa" 2>&1)
echo "$H2LOAD_OUT" | grep -E '^finished in|^requests:|^status codes:'
stop_pid "$FAKE_PID"

NGINX_RATE=$(echo "$NGINX_OUT" | rate_of)
PY_RATE=$(echo "$PY_OUT" | rate_of)
H2LOAD_RATE=$(echo "$H2LOAD_OUT" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
echo
echo "summary: provider->nginx ${NGINX_RATE:-?}/s (target $TARGET/s), provider->python fake ${PY_RATE:-?}/s, h2load->python fake ${H2LOAD_RATE:-?}/s"
if [ -n "${NGINX_RATE:-}" ] && [ "$NGINX_RATE" -ge "$TARGET" ]; then
  echo "target met"
else
  echo "target NOT met"
fi
