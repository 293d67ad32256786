#!/usr/bin/env bash
# Installs the Debian bookworm packages custos needs to build, run and test, if any is missing.
# Uses sudo when not root. Safe to run repeatedly: does nothing when everything is present.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ make pkg-config
  # libraries (see README, "Dependencies")
  libssl-dev libboost-dev libcurl4-openssl-dev libplist-dev libplist++-dev nlohmann-json3-dev
  libsqlite3-dev libpqxx-dev libpq-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libnghttp2-dev  # the APNs provider's HTTP/2 (src/push/apns.h says why not libcurl there)
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev openssl sqlite3 curl procps
  postgresql clang libclang-rt-14-dev
  # real protocol peers for interop tests
  scep lego uacme pebble nghttp2-client python3 python3-h2 wrk nginx-light
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
# policy-rc.d keeps apt from starting nginx or postgresql as system services: tests start their own.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi
