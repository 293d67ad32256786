#!/usr/bin/env bash
# run-all.sh BUILD_DIR: runs every benchmark in bench/*/run.sh against the binaries in BUILD_DIR
# (configured with CUSTOS_BENCH=ON, the default). Each prints its figure as a ratio against a
# baseline measured in the same run, and a PASS/FAIL line against its target.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for script in "$here"/*/run.sh; do
  echo "=== $(basename "$(dirname "$script")")"
  bash "$script" "$build" || status=1
done
exit $status
