#!/usr/bin/env bash
# Starts echo_server on a free loopback port, echoes a few lines through it from
# several concurrent clients (bash's /dev/tcp), and stops it.
set -euo pipefail
out=$(mktemp)
examples/echo_server --port=0 --workers=2 >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out")
[ -n "$port" ] || { echo "no port printed"; cat "$out"; exit 1; }
client() {
  exec 3<>/dev/tcp/127.0.0.1/"$port"
  local line
  for i in 1 2 3; do
    echo "hello $1 $i" >&3
    read -r -t 10 line <&3
    [ "$line" = "hello $1 $i" ] || { echo "client $1 got '$line'"; return 1; }
  done
  exec 3>&-
}
pids=()
for c in $(seq 8); do client "$c" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
echo "8 clients echoed"
