#!/usr/bin/env bash
# Runs coro_demo and checks its output and exit status.
set -euo pipefail
out=$(examples/coro_demo)
expect() {
  grep -qF -- "$1" <<<"$out" || { echo "missing from coro_demo output: $1"; echo "$out"; exit 1; }
}
expect "ping: step 3 of 3"
expect "pong: step 2 of 2"
expect "caught: thrown on the coroutine's own stack"
expect "[abandoned] destructor ran"
if grep -qF "(never printed)" <<<"$out"; then echo "unwound coroutine kept running"; exit 1; fi
expect "done"
