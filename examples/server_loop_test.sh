#!/usr/bin/env bash
# Runs server_loop briefly: requests answered, bad requests rejected (and the server
# survives them), no wrong replies, clean shutdown, exit status 0.
set -euo pipefail
out=$(examples/server_loop --seconds=1 --clients=4 --workers=2)
echo "$out"
answered=$(sed -n 's/^requests: \([0-9]*\) answered.*/\1/p' <<<"$out")
[ "${answered:-0}" -ge 200 ] || { echo "only ${answered:-0} requests answered"; exit 1; }
rejected=$(sed -n 's/.*sent, \([0-9]*\) rejected.*/\1/p' <<<"$out")
[ "${rejected:-0}" -ge 1 ] || { echo "no bad request was rejected"; exit 1; }
grep -q "wrong replies: 0" <<<"$out" || { echo "wrong replies"; exit 1; }
grep -q "clean shutdown" <<<"$out" || { echo "no clean shutdown"; exit 1; }
if examples/server_loop --clients=0 2>/dev/null; then echo "--clients=0 accepted"; exit 1; fi
