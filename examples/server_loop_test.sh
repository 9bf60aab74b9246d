#!/usr/bin/env bash
# Runs server_loop briefly: every request answered, bad requests rejected (and the server
# survives them), no wrong replies, clean shutdown, exit status 0.
set -euo pipefail
out=$(examples/server_loop --seconds=1 --clients=4 --workers=2)
echo "$out"
# Every request answered (no throughput is asserted: a slow machine sends fewer).
answered=$(sed -n 's/^requests: \([0-9]*\) answered of.*/\1/p' <<<"$out")
sent=$(sed -n 's/^requests: [0-9]* answered of \([0-9]*\) sent.*/\1/p' <<<"$out")
[ "${answered:-0}" -ge 1 ] || { echo "no request answered"; exit 1; }
[ "$answered" = "$sent" ] || { echo "$answered answered of $sent sent"; exit 1; }
rejected=$(sed -n 's/.*sent, \([0-9]*\) rejected.*/\1/p' <<<"$out")
[ "${rejected:-0}" -ge 1 ] || { echo "no bad request was rejected"; exit 1; }
grep -q "wrong replies: 0" <<<"$out" || { echo "wrong replies"; exit 1; }
grep -q "clean shutdown" <<<"$out" || { echo "no clean shutdown"; exit 1; }
if examples/server_loop --clients=0 2>/dev/null; then echo "--clients=0 accepted"; exit 1; fi
