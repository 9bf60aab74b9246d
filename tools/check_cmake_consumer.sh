#!/usr/bin/env bash
# The CMake package works for an outsider: builds spindle with CMake (library only),
# installs it into a temporary prefix, then builds examples/consumer against it twice
# — with find_package(spindle) and with pkg-config (spindle.pc) — and runs both.
# Run by .ci/run. Usage: tools/check_cmake_consumer.sh [extra cmake args for spindle]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

cmake -S "$root" -B "$tmp/build" "${gen[@]}" -DSPINDLE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$tmp/build" -j2 >/dev/null
cmake --install "$tmp/build" --prefix "$tmp/prefix" >/dev/null

cmake -S "$root/examples/consumer" -B "$tmp/consumer" "${gen[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer" | tee "$tmp/out-cmake"
grep -qx "consumer: ok" "$tmp/out-cmake"

pc_dir=$(dirname "$(find "$tmp/prefix" -name spindle.pc | head -1)")
# shellcheck disable=SC2046
c++ -o "$tmp/consumer-pc" "$root/examples/consumer/main.cpp" \
  $(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs spindle)
"$tmp/consumer-pc" | tee "$tmp/out-pc"
grep -qx "consumer: ok" "$tmp/out-pc"
echo "check_cmake_consumer: find_package and pkg-config consumers built and ran"
