# bench/lib.sh: shell helpers shared by the bench/*/run.sh scripts. Source it from bash:
#   source "$root/bench/lib.sh"; bench_setup NAME
# bench_setup makes a fresh work folder ($work, /tmp/custos-NAME-bench.XXXXXX) and arms `cleanup`
# on EXIT, which stops every PID the script appended to the array `pids` (by PID, never by name)
# and removes $work.

# bench_setup NAME: sets $work and $pids, installs the EXIT trap.
bench_setup() {
  work=$(mktemp -d "/tmp/custos-$1-bench.XXXXXX")
  pids=()
  trap cleanup EXIT
}

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}

# free_port: a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_url URL: waits up to 30 s for URL (http or https, certificate not checked) to answer 2xx.
wait_url() {
  for _ in $(seq 1 300); do
    curl -sfk -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "run.sh: $1 did not answer" >&2
  return 1
}

# cpu_ticks PID: utime + stime of PID (all its threads) in clock ticks (getconf CLK_TCK per s).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
