#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]: starts a throw-away PostgreSQL server (initdb in a temporary
# folder, loopback only, a random free port), runs CMD with CUSTOS_TEST_PG_DSN set to a DSN for
# it, then stops the server by its PID and removes the folder, whatever CMD did.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ]; then
  echo "with-postgres: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/custos-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres:postgres "$dir"
  as_pg=(runuser -u postgres --)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
pid=""
cleanup() {
  # The postmaster's own PID (runuser's PID is not it).
  if [ -f "$dir/data/postmaster.pid" ]; then pid=$(head -n 1 "$dir/data/postmaster.pid"); fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

"${as_pg[@]}" "$pgbin/initdb" -D "$dir/data" -U custos -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
"${as_pg[@]}" "$pgbin/postgres" -D "$dir/data" -h 127.0.0.1 -p "$port" -k "$dir" \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
  >"$dir/postgres.log" 2>&1 &
launcher=$!
for _ in $(seq 1 100); do
  if "$pgbin/pg_isready" -h 127.0.0.1 -p "$port" -q; then break; fi
  if ! kill -0 "$launcher" 2>/dev/null; then cat "$dir/postgres.log" >&2; exit 1; fi
  sleep 0.1
done
"$pgbin/pg_isready" -h 127.0.0.1 -p "$port" -q || { echo "with-postgres: server did not start" >&2; cat "$dir/postgres.log" >&2; exit 1; }
"$pgbin/createdb" -h 127.0.0.1 -p "$port" -U custos custos_test

export CUSTOS_TEST_PG_DSN="postgresql://custos@127.0.0.1:$port/custos_test"
export CUSTOS_TEST_PG_ADMIN_DSN="postgresql://custos@127.0.0.1:$port/postgres"
pid=$(head -n 1 "$dir/data/postmaster.pid")
echo "with-postgres: PostgreSQL on 127.0.0.1:$port (pid $pid)" >&2
set +e
"$@"
rc=$?
set -e
exit $rc
