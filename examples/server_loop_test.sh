#!/usr/bin/env bash
# Runs server_loop for a fixed number of requests per client: every request
# answered, bad requests rejected (and the server survives them), no wrong replies,
# clean shutdown, exit status 0. Nothing here depends on how fast the machine is:
# requests are counted to a fixed number (--requests), not measured in a time window.
set -euo pipefail
clients=4
per_client=100
out=$(examples/server_loop --requests=$per_client --clients=$clients --workers=2)
echo "$out"
answered=$(sed -n 's/^requests: \([0-9]*\) answered.*/\1/p' <<<"$out")
[ "${answered:-0}" -eq $((clients * per_client)) ] ||
  { echo "${answered:-0} of $((clients * per_client)) requests answered"; exit 1; }
sent=$(sed -n 's/^bad requests: \([0-9]*\) sent.*/\1/p' <<<"$out")
rejected=$(sed -n 's/.*sent, \([0-9]*\) rejected.*/\1/p' <<<"$out")
[ "${sent:-0}" -ge 1 ] || { echo "the load generator sent no bad request"; exit 1; }
[ "${rejected:-0}" -eq "$sent" ] || { echo "$sent bad requests sent, ${rejected:-0} rejected"; exit 1; }
grep -q "wrong replies: 0" <<<"$out" || { echo "wrong replies"; exit 1; }
grep -q "clean shutdown" <<<"$out" || { echo "no clean shutdown"; exit 1; }
if examples/server_loop --clients=0 2>/dev/null; then echo "--clients=0 accepted"; exit 1; fi
if examples/server_loop --requests=-1 2>/dev/null; then echo "--requests=-1 accepted"; exit 1; fi
