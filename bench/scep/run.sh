#!/usr/bin/env bash
# bench/scep/run.sh: SCEP enrollment throughput and server CPU per enrollment, custos against
# micromdm's scepserver (Debian package `scep`, 2048-bit CA from `scepserver ca -init -keySize
# 2048`), under the same load from the same generator (scep_load.cc: custos' own SCEP client,
# RSA-2048 client keys generated before the clock starts, keep-alive, N concurrent clients), plus
# `openssl speed rsa2048` from the same run as the physical bound: an enrollment costs the CA about
# three RSA private-key operations (open the envelope, sign the certificate, sign the CertRep).
#
#   bench/scep/run.sh            (CLIENTS=16 ENROLLMENTS=320 by default)
# Needs build/custos and build/bench/scep/scep_load (cmake -DCUSTOS_BENCH=ON). Everything listens
# on 127.0.0.1 only; every process started here is stopped by its PID on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
custos=${CUSTOS_BIN:-$root/build/custos}
load=${SCEP_LOAD_BIN:-$root/build/bench/scep/scep_load}
clients=${CLIENTS:-16}
enrollments=${ENROLLMENTS:-320}
challenge=bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

work=$(mktemp -d /tmp/custos-scep-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_http() {
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "run.sh: $1 did not answer" >&2
  return 1
}
field() { awk -v k="$1:" '$1 == k {print $2}' "$2"; }

for bin in "$custos" "$load"; do
  [ -x "$bin" ] || { echo "run.sh: $bin missing (build with -DCUSTOS_BENCH=ON)" >&2; exit 1; }
done
command -v scepserver >/dev/null || { echo "run.sh: scepserver missing (apt-get install scep)" >&2; exit 1; }

echo "== openssl speed rsa2048 (one core)"
sign_per_s=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1)}')
echo "rsa2048_sign_per_second: $sign_per_s"

echo "== custos"
port=$(free_port)
CUSTOS_SCEP_CHALLENGE=$challenge "$custos" serve --data-dir "$work/custos" \
  --listen "127.0.0.1:$port" --log-level warn >"$work/custos.log" 2>&1 &
custos_pid=$!
pids+=("$custos_pid")
wait_http "http://127.0.0.1:$port/healthz"
"$load" --url "http://127.0.0.1:$port/scep" --challenge "$challenge" --clients "$clients" \
  --enrollments "$enrollments" --server-pid "$custos_pid" | tee "$work/custos.out" || true

echo "== scepserver (micromdm, Debian package scep)"
sport=$(free_port)
scepserver ca -init -keySize 2048 -depot "$work/depot" >/dev/null
scepserver -depot "$work/depot" -port "$sport" -challenge "$challenge" >"$work/scepserver.log" 2>&1 &
scep_pid=$!
pids+=("$scep_pid")
wait_http "http://127.0.0.1:$sport/scep?operation=GetCACaps"
"$load" --url "http://127.0.0.1:$sport/scep" --challenge "$challenge" --clients "$clients" \
  --enrollments "$enrollments" --server-pid "$scep_pid" | tee "$work/scepserver.out" || true
if [ "$(field issued "$work/scepserver.out")" != "$enrollments" ]; then
  # Its file depot loses its serial file under concurrent issuance (seen with 16 clients): measure
  # its CPU per enrollment one client at a time as well, on a fresh depot.
  echo "scepserver failed enrollments under $clients concurrent clients; again with 1 client:"
  kill "$scep_pid"; wait "$scep_pid" 2>/dev/null || true
  rm -rf "$work/depot"
  scepserver ca -init -keySize 2048 -depot "$work/depot" >/dev/null
  scepserver -depot "$work/depot" -port "$sport" -challenge "$challenge" >>"$work/scepserver.log" 2>&1 &
  scep_pid=$!
  pids+=("$scep_pid")
  wait_http "http://127.0.0.1:$sport/scep?operation=GetCACaps"
  "$load" --url "http://127.0.0.1:$sport/scep" --challenge "$challenge" --clients 1 \
    --enrollments "$enrollments" --server-pid "$scep_pid" | tee "$work/scepserver.out" || true
fi

echo "== summary"
c_ms=$(field server_cpu_ms_per_enrollment "$work/custos.out")
s_ms=$(field server_cpu_ms_per_enrollment "$work/scepserver.out")
python3 - "$c_ms" "$s_ms" "$sign_per_s" "$(field enrollments_per_second "$work/custos.out")" <<'PY'
import sys
def num(s):
    try: return float(s)
    except ValueError: return None
c, s, sign, eps = (num(x) for x in sys.argv[1:5])
bound = sign / 3 if sign else None  # enrollments per CPU-second if only the 3 RSA signs cost
print(f"custos_cpu_ms_per_enrollment: {c}")
print(f"scepserver_cpu_ms_per_enrollment: {s}")
if c and s:
    print(f"cpu_ratio_custos_over_scepserver: {c / s:.3f} (target <= 0.2)")
if c and bound:
    print(f"physical_bound_enrollments_per_cpu_second: {bound:.1f}")
    print(f"custos_enrollments_per_cpu_second: {1000 / c:.1f} "
          f"({100 * (1000 / c) / bound:.0f}% of the bound, target >= 60%)")
print(f"custos_enrollments_per_second: {eps}")
PY
