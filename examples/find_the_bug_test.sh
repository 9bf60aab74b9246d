#!/usr/bin/env bash
# find_the_bug must find the lost wakeup, print its seed, and replay it identically.
set -euo pipefail
# Cross configs run the demo under emulation (toolchain/wine_test.sh, qemu_test.sh).
run=${SPINDLE_TEST_RUNNER:-}
out=$($run examples/find_the_bug 2>&1)
echo "$out"
grep -q "found after" <<<"$out" || { echo "the bug was not found"; exit 1; }
grep -q "deadlock" <<<"$out" || { echo "expected a deadlock report"; exit 1; }
grep -q "'consumer' waits in cond_var" <<<"$out" || { echo "report does not name the consumer"; exit 1; }
[ "$(grep -c -- '— the same failure' <<<"$out")" -eq 2 ] || { echo "replays differ"; exit 1; }
grep -q "SPINDLE_SEED=" <<<"$out" || { echo "no replay hint"; exit 1; }
