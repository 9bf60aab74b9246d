#!/usr/bin/env bash
# bench/echo: spindle's echo server (examples/echo_server, a fiber per connection),
# once per netpoller backend (SPINDLE_IO_BACKEND=io_uring, =epoll), against a Go
# echo server (a goroutine per connection) and a plain single-threaded edge-triggered epoll server in C++, all driven by the same load
# generator (bench/echo_peers/load.cc): N loopback connections, 512-byte ping-pong, a
# fixed duration. Runs are interleaved (spindle io_uring, spindle epoll, Go, epoll,
# spindle io_uring, ...) and each figure is the median over the repetitions. The
# rows "spindle" of --kv (what //bench:compare shows) are the default backend's,
# the first of ECHO_BACKENDS.
#
#   ./bazelw run --config=bench //bench:echo --with-go            # the table
#   ./bazelw run --config=bench //bench:echo -- --kv               # key value lines
#   ECHO_SECONDS=3 ECHO_REPS=3 ECHO_CONNS="1 16 256 4096" ECHO_WORKERS=2
#   ECHO_BACKENDS="epoll io_uring" ECHO_IDLE_CONNS=10000 (defaults; a backend the
#   kernel lacks is skipped; ECHO_IDLE_CONNS=0 skips the idle measurement)
#
# Idle connections: each server gets ECHO_IDLE_CONNS connections, 1 s of
# ping-pong on them, then silence; its peak RSS (VmHWM) then, less its RSS before
# they connected, divided by their number, is the "peak RSS per idle connection".
# Two more servers run only here: spindle_held, spindle's server with the Go
# peer's loop shape (a 4 KiB buffer held on the fiber's stack while it waits), and
# go_rawconn, Go's server with spindle's shape (it waits for readability before it
# takes a pooled buffer).
set -euo pipefail
kv_only=0
[ "${1:-}" = "--kv" ] && kv_only=1
seconds=${ECHO_SECONDS:-3}
reps=${ECHO_REPS:-3}
conns_list=${ECHO_CONNS:-"1 16 256 4096"}
workers=${ECHO_WORKERS:-2}
backends=${ECHO_BACKENDS:-"epoll io_uring"}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # 10,000 idle connections need the fds
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

spindles=""
for b in $backends; do spindles="$spindles spindle_$b"; done
servers="$spindles epoll"
if command -v go >/dev/null 2>&1; then
  export GOCACHE=${TMPDIR:-/tmp}/spindle-gocache GO111MODULE=off
  # Real files: go does not build through the runfiles symlinks.
  cp bench/echo_peers/echo.go "$tmp/echo.go"
  cp bench/echo_peers/echo_rawconn.go "$tmp/echo_rawconn.go"
  (cd "$tmp" && go build -o echo_go echo.go && go build -o echo_go_rawconn echo_rawconn.go)
  servers="$spindles go epoll"
fi

# start <server> -> sets $pid and $port
start() {
  local out="$tmp/out.$1"
  : >"$out"
  case $1 in
    spindle_*) SPINDLE_IO_BACKEND=${1#spindle_} examples/echo_server --port=0 --workers="$workers" >"$out" 2>&1 & ;;
    go) GOMAXPROCS=$workers "$tmp/echo_go" --port=0 >"$out" 2>&1 & ;;
    epoll) bench/echo_epoll_server --port=0 >"$out" 2>&1 & ;;
  esac
  pid=$!
  for _ in $(seq 200); do grep -q listening "$out" && break; sleep 0.02; done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out")
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# A backend this kernel does not offer (io_uring under a seccomp profile) makes
# the forced server abort at its first accept: probe each once, drop the failures.
kept=""
for s in $servers; do
  case $s in
    spindle_*)
      start "$s"
      ok=0
      if [ -n "$port" ] && bench/echo_load --port="$port" --conns=1 --seconds=0.2 --size=512 --threads=1 >/dev/null 2>&1 &&
        kill -0 "$pid" 2>/dev/null; then ok=1; fi
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      if [ "$ok" = 1 ]; then kept="$kept $s"; else echo "echo: skipping $s (it did not serve)" >&2; fi ;;
    *) kept="$kept $s" ;;
  esac
done
servers=$kept
default_spindle=$(for s in $servers; do case $s in spindle_*) echo "$s"; break ;; esac; done)

kv=$tmp/kv
for conns in $conns_list; do
  for rep in $(seq "$reps"); do
    for s in $servers; do
      start "$s"
      [ -n "$port" ] || { echo "$s did not start" >&2; exit 1; }
      c0=$(cpu_ticks "$pid")
      line=$(bench/echo_load --port="$port" --conns="$conns" --seconds="$seconds" --size=512 --threads=1)
      c1=$(cpu_ticks "$pid")
      rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
      kill "$pid"
      wait "$pid" 2>/dev/null || true
      hz=$(getconf CLK_TCK)
      awk -v s="$s" -v c="$conns" -v line="$line" -v cpu="$(( c1 - c0 ))" -v hz="$hz" -v secs="$seconds" -v rss="$rss" 'BEGIN {
        n = split(line, f, " ")
        for (i = 1; i <= n; i++) { split(f[i], kvp, "="); v[kvp[1]] = kvp[2] }
        printf "echo_%s_%s_rps %s\n", s, c, v["rps"]
        printf "echo_%s_%s_p50_us %s\n", s, c, v["p50_us"]
        printf "echo_%s_%s_p99_us %s\n", s, c, v["p99_us"]
        printf "echo_%s_%s_cpu_pct %.1f\n", s, c, 100 * cpu / hz / secs
        printf "echo_%s_%s_rss_mib %.1f\n", s, c, rss / 1024
        printf "echo_%s_%s_errors %s\n", s, c, v["errors"]
      }' >>"$kv"
    done
  done
done

# Peak RSS per idle connection (see the header), interleaved like the load runs.
idle_conns=${ECHO_IDLE_CONNS:-10000}
idle_servers="$servers"
[ -n "$default_spindle" ] && idle_servers="$idle_servers spindle_held"
[ -x "$tmp/echo_go_rawconn" ] && idle_servers="$idle_servers go_rawconn"
if [ "$idle_conns" -gt 0 ]; then
  for rep in $(seq "$reps"); do
    for s in $idle_servers; do
      if [ "$s" = spindle_held ] || [ "$s" = go_rawconn ]; then
        out="$tmp/out.$s"
        if [ "$s" = spindle_held ]; then
          SPINDLE_IO_BACKEND=${default_spindle#spindle_} bench/echo_held_buffer_server --port=0 --workers="$workers" >"$out" 2>&1 &
        else
          GOMAXPROCS=$workers "$tmp/echo_go_rawconn" --port=0 >"$out" 2>&1 &
        fi
        pid=$!
        for _ in $(seq 200); do grep -q listening "$out" && break; sleep 0.02; done
        port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out")
      else
        start "$s"
      fi
      [ -n "$port" ] || { echo "$s did not start" >&2; exit 1; }
      # A short warm-up first, so that the baseline has the threads and pools a
      # serving process has.
      bench/echo_load --port="$port" --conns=16 --seconds=0.3 --size=512 --threads=1 >/dev/null
      sleep 0.3
      base=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status")
      bench/echo_load --port="$port" --conns="$idle_conns" --seconds=1 --size=512 --threads=1 --hold=60 >"$tmp/idle.out" &
      lpid=$!
      for _ in $(seq 1500); do grep -q requests "$tmp/idle.out" && break; sleep 0.02; done
      sleep 0.5  # the connections are idle now
      hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
      kill "$lpid" 2>/dev/null || true
      wait "$lpid" 2>/dev/null || true
      kill "$pid"
      wait "$pid" 2>/dev/null || true
      echo "echo_${s}_idle_bytes_per_conn $(( (hwm - base) * 1024 / idle_conns ))" >>"$kv"
    done
  done
fi

# Medians over the repetitions.
sort -k1,1 -k2,2g "$kv" | awk '
  { if ($1 != key) { if (key != "") flush(); key = $1; n = 0 } vals[++n] = $2 }
  function flush() { print key, (n % 2 ? vals[(n + 1) / 2] : (vals[n / 2] + vals[n / 2 + 1]) / 2) }
  END { if (key != "") flush() }' >"$tmp/med"

if [ "$kv_only" = 1 ]; then
  cat "$tmp/med"
  # The default backend's figures under the plain "spindle" names.
  [ -n "$default_spindle" ] && sed -n "s/^echo_${default_spindle}_/echo_spindle_/p" "$tmp/med"
  exit 0
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "512-byte echo ping-pong, ${seconds} s per run, median of ${reps}, ${workers} workers / GOMAXPROCS=${workers};"
echo "spindle_<backend>: SPINDLE_IO_BACKEND=<backend>. <server>/Go: ratio of requests/s (above 1: faster than Go)."
echo
awk -v servers="$servers" -v conns="$conns_list" -v idle="$idle_conns" '
  { v[$1] = $2 }
  function g(s, c, f) { k = "echo_" s "_" c "_" f; return (k in v) ? v[k] : "-" }
  END {
    ns = split(servers, S, " "); nc = split(conns, C, " ")
    print "| conns | server | requests/s | p50 us | p99 us | server CPU % | peak RSS MiB |"
    print "|---|---|---|---|---|---|---|"
    for (i = 1; i <= nc; i++) {
      for (j = 1; j <= ns; j++)
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", C[i], S[j], g(S[j], C[i], "rps"), g(S[j], C[i], "p50_us"),
               g(S[j], C[i], "p99_us"), g(S[j], C[i], "cpu_pct"), g(S[j], C[i], "rss_mib")
      for (j = 1; j <= ns; j++) {
        if (S[j] !~ /^spindle_/) continue
        if (("echo_go_" C[i] "_rps" in v) && v["echo_go_" C[i] "_rps"] > 0)
          printf "| %s | %s/Go | %.2fx | | | | |\n", C[i], S[j], v["echo_" S[j] "_" C[i] "_rps"] / v["echo_go_" C[i] "_rps"]
        if (("echo_epoll_" C[i] "_rps" in v) && v["echo_epoll_" C[i] "_rps"] > 0)
          printf "| %s | %s/epoll server | %.2fx | | | | |\n", C[i], S[j], v["echo_" S[j] "_" C[i] "_rps"] / v["echo_epoll_" C[i] "_rps"]
      }
    }
    if (!(("echo_go_idle_bytes_per_conn" in v) || ("echo_epoll_idle_bytes_per_conn" in v))) exit
    print ""
    print "| " idle " idle connections | peak RSS per connection, bytes | / Go |"
    print "|---|---|---|"
    n = split(servers " spindle_held go_rawconn", T, " ")
    for (j = 1; j <= n; j++) {
      k = "echo_" T[j] "_idle_bytes_per_conn"
      if (!(k in v)) continue
      r = ("echo_go_idle_bytes_per_conn" in v) ? sprintf("%.2fx", v[k] / v["echo_go_idle_bytes_per_conn"]) : "-"
      printf "| %s | %d | %s |\n", T[j], v[k], r
    }
  }' "$tmp/med"
