#!/usr/bin/env bash
# run-fuzzers.sh BUILD_DIR SECONDS: runs every libFuzzer target built in BUILD_DIR (by
# `make fuzz`, i.e. -DCUSTOS_FUZZ=ON with clang) for SECONDS each, starting from its committed seed
# corpus fuzz/corpus/<target>/ (when present) and a scratch corpus. Exits non-zero, keeping the
# crashing input in fuzz/, when a target finds a crash, a leak or a timeout.
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-60}
# libFuzzer reads -max_total_time=0 as "no limit": refuse it rather than run forever.
case "$seconds" in
  ''|*[!0-9]*|0) echo "run-fuzzers.sh: SECONDS must be a positive integer (got '$seconds')" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
found=0
while IFS= read -r target; do
  found=1
  name=$(basename "$target")
  scratch=$(mktemp -d /tmp/custos-fuzz-"$name".XXXXXX)
  seeds=()
  if [ -d "$root/fuzz/corpus/$name" ]; then seeds=("$root/fuzz/corpus/$name"); fi
  echo "== $name (${seconds}s)"
  if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$root/fuzz/" "$scratch" "${seeds[@]}" 2>"$scratch.log"; then
    echo "!! $name failed; see the artifact in fuzz/ and the log below" >&2
    tail -n 60 "$scratch.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$scratch.log" | sed "s/^/   /"
  fi
  rm -rf "$scratch" "$scratch.log"
done < <(find "$build" -type f -name '*_fuzzer' -perm -u+x | sort)
if [ "$found" = 0 ]; then echo "no fuzz targets in $build (configure with -DCUSTOS_FUZZ=ON)" >&2; exit 1; fi
exit $status
