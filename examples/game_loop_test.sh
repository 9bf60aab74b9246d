#!/usr/bin/env bash
# Runs game_loop for a fixed number of frames and checks what it prints and its exit
# status; bad flags must be rejected. Nothing here depends on how fast the machine
# is: frames are counted to a fixed number (--frames), not measured in a time
# window, and every AI agent must think exactly 4 times in every frame.
set -euo pipefail
frames_wanted=20
agents=4
run=${SPINDLE_TEST_RUNNER:-}  # cross configs run the demo under emulation (toolchain/wine_test.sh, qemu_test.sh)
out=$($run examples/game_loop --frames=$frames_wanted --workers=2 --jobs=32 --agents=$agents)
echo "$out"
for want in "game_loop: 2 workers" "frames: " "p99" "jobs: 32 per frame" "worker utilisation" "done"; do
  grep -qF -- "$want" <<<"$out" || { echo "missing from output: $want"; exit 1; }
done
frames=$(sed -n 's/^frames: \([0-9]*\) .*/\1/p' <<<"$out")
[ "$frames" -eq "$frames_wanted" ] || { echo "ran $frames frames, asked for $frames_wanted"; exit 1; }
jobs=$(sed -n 's/^jobs: 32 per frame, \([0-9]*\) in all.*/\1/p' <<<"$out")
[ "$jobs" -eq $((frames * 32)) ] || { echo "ran $jobs jobs in $frames frames of 32"; exit 1; }
thoughts=$(sed -n 's/.*AI thoughts: \([0-9]*\).*/\1/p' <<<"$out")
[ "$thoughts" -eq $((frames * agents * 4)) ] || { echo "AI fibers did not think 4 times every frame ($thoughts)"; exit 1; }
# An agent that runs late after every frame still meets every frame's barrier and
# stops with the others (the demo once read a stop flag after the barrier, and a
# late agent left one frame early: the main thread then waited for it forever).
out=$(timeout 120 $run examples/game_loop --frames=4 --workers=2 --jobs=8 --agents=2 --slow-agent-ms=60) ||
  { echo "game_loop with a late agent hung or failed (status $?)"; exit 1; }
grep -qF "AI thoughts: 32" <<<"$out" || { echo "a late agent missed a frame: $out"; exit 1; }
# The time-boxed mode ends too, with at least one frame.
out=$($run examples/game_loop --seconds=0.1 --workers=2 --jobs=8 --agents=2)
grep -qF "done" <<<"$out" || { echo "--seconds run did not finish"; exit 1; }
if $run examples/game_loop --jobs=0 2>/dev/null; then echo "--jobs=0 accepted"; exit 1; fi
if $run examples/game_loop --frames=-1 2>/dev/null; then echo "--frames=-1 accepted"; exit 1; fi
if $run examples/game_loop --bogus 2>/dev/null; then echo "unknown flag accepted"; exit 1; fi
if $run examples/game_loop --slow-agent-ms=-5 2>/dev/null; then echo "--slow-agent-ms=-5 accepted"; exit 1; fi
