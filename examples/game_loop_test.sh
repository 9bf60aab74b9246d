#!/usr/bin/env bash
# Runs game_loop briefly and checks what it prints and its exit status; bad flags
# must be rejected.
set -euo pipefail
# Cross configs run the demo under emulation (toolchain/wine_test.sh, qemu_test.sh).
run=${SPINDLE_TEST_RUNNER:-}
out=$($run examples/game_loop --seconds=0.5 --workers=2 --jobs=32 --agents=4)
echo "$out"
for want in "game_loop: 2 workers" "frames: " "p99" "jobs: 32 per frame" "worker utilisation" "done"; do
  grep -qF -- "$want" <<<"$out" || { echo "missing from output: $want"; exit 1; }
done
frames=$(sed -n 's/^frames: \([0-9]*\) .*/\1/p' <<<"$out")
[ "$frames" -ge 10 ] || { echo "only $frames frames in 0.5 s at 60 Hz"; exit 1; }
thoughts=$(sed -n 's/.*AI thoughts: \([0-9]*\).*/\1/p' <<<"$out")
[ "$thoughts" -ge $((frames * 4 * 4)) ] || { echo "AI fibers did not think every frame ($thoughts)"; exit 1; }
if $run examples/game_loop --jobs=0 2>/dev/null; then echo "--jobs=0 accepted"; exit 1; fi
if $run examples/game_loop --bogus 2>/dev/null; then echo "unknown flag accepted"; exit 1; fi
