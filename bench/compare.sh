#!/usr/bin/env bash
# One table of every benchmark: spindle against Boost.Fiber, std::thread and (when
# `go` is installed) Go, each peer measured in the same run on the same machine.
#
#   ./bazelw run --config=bench //bench:compare            # spindle, Boost.Fiber, std
#   ./bazelw run --config=bench //bench:compare --with-go  # ./bazelw installs Go too
#
# Ratios are spindle's figure divided by the peer's: below 1 means spindle is
# faster (or smaller).
set -euo pipefail
kv=$(mktemp)
trap 'rm -f "$kv"' EXIT

echo "running bench/context_switch ..." >&2
bench/context_switch --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_enable_random_interleaving=true 2>/dev/null |
  awk '/_median/ { for (i = 1; i <= NF; i++) if ($i ~ /^ns_per_switch=/) {
         v = $i; sub(/ns_per_switch=/, "", v); unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v);
         scale = unit == "us" ? 1000 : (unit == "ms" ? 1e6 : 1);
         name = $1; sub(/_median/, "", name); sub(/^BM_/, "", name); print "switch_" name " " v * scale } }' >>"$kv"
echo "running bench/fiber_ops ..." >&2
bench/fiber_ops --kv >>"$kv"
echo "running bench/sync_compare ..." >&2
bench/sync_compare --kv >>"$kv"
echo "running bench/skynet (each variant in its own process) ..." >&2
bench/skynet --kv >>"$kv"

echo "running bench/echo (spindle, Go if installed, raw epoll; 512-byte ping-pong) ..." >&2
ECHO_SECONDS=${ECHO_SECONDS:-2} ECHO_REPS=${ECHO_REPS:-3} bench/echo.sh --kv >>"$kv"

have_go=0
frame_go=()
if command -v go >/dev/null 2>&1; then
  gobin=$(mktemp)
  trap 'rm -f "$kv" "$gobin"' EXIT
  GOCACHE=${TMPDIR:-/tmp}/spindle-gocache GOFLAGS=-mod=mod GO111MODULE=off go build -o "$gobin" bench/go/peers.go &&
    frame_go=(--go "$gobin")
fi
echo "running bench/frame (each variant in its own process, interleaved) ..." >&2
bench/frame --kv "${frame_go[@]}" 2>/dev/null >>"$kv"

if command -v go >/dev/null 2>&1; then
  have_go=1
  echo "running Go peers ($(go version | awk '{print $3}')) ..." >&2
  export GOCACHE=${TMPDIR:-/tmp}/spindle-gocache GOFLAGS=-mod=mod GO111MODULE=off
  GOMAXPROCS=1 go run bench/go/peers.go | sed 's/^/go_1_/' >>"$kv"
  GOMAXPROCS=2 go run bench/go/peers.go | sed 's/^/go_2_/' >>"$kv"
  GOMAXPROCS=1 go run bench/go/peers.go skynet | sed 's/^/go_/' >>"$kv"
  GOMAXPROCS=2 go run bench/go/peers.go skynet | sed 's/^/go_/' >>"$kv"
fi

awk -v have_go="$have_go" '
  { v[$1] = $2 }
  function cell(key, unit) { return (key in v) ? sprintf("%.4g %s", v[key], unit) : "-" }
  function ratio(a, b) { return (a in v) && (b in v) && v[b] > 0 ? sprintf("%.3fx", v[a] / v[b]) : "-" }
  function row(name, unit, s, b, t, g) {
    printf "| %s | %s | %s | %s | %s | %s | %s |\n", name, cell(s, unit), cell(b, unit), cell(t, unit),
           have_go ? cell(g, unit) : "(no go)", ratio(s, b), (t != "" ? ratio(s, t) : "-") (have_go && g != "" ? " / " ratio(s, g) : "")
  }
  END {
    print "| figure | spindle | Boost.Fiber | std | Go | vs Boost.Fiber | vs std / Go |"
    print "|---|---|---|---|---|---|---|"
    row("context switch, one way (vs Boost jump_fcontext; std column: ucontext)", "ns",
        "switch_spindle_switch", "switch_boost_jump_fcontext", "switch_ucontext_swapcontext", "")
    row("Coroutine resume+suspend, per switch (vs boost::context::fiber)", "ns",
        "switch_spindle_coroutine", "switch_boost_context_fiber", "", "")
    row("skynet 1M, 1 worker", "s", "skynet_1_spindle_s", "skynet_1_boost_s", "", "go_skynet_1_s")
    row("skynet 1M, 2 workers", "s", "skynet_2_spindle_s", "skynet_2_boost_s", "", "go_skynet_2_s")
    row("skynet 1M, 2 workers, peak RSS", "MiB", "skynet_2_spindle_rss_mib", "skynet_2_boost_rss_mib", "", "go_skynet_2_rss_mib")
    row("spawn+join one empty fiber", "ns", "spawn_join_spindle_ns", "spawn_join_boost_ns", "", "go_1_spawn_join_ns")
    row("yield ping-pong, 1 worker, per yield", "ns", "yield_spindle_ns", "yield_boost_ns", "", "go_1_yield_ns")
    row("wake a parked pool from a plain thread, unpinned workers (std: condvar wakes a thread)", "us",
        "wake_spindle_us", "", "wake_condvar_us", "")
    row("same, workers pinned to cores", "us", "wake_pinned_spindle_us", "", "wake_condvar_us", "")
    row("uncontended lock+unlock", "ns", "mutex_uncontended_spindle_ns", "mutex_uncontended_boost_ns", "mutex_uncontended_std_ns", "")
    row("contended mutex, 4 fibers on 2 workers (std: 4 threads), per lock", "ns", "mutex_contended_spindle_ns",
        "mutex_contended_boost_ns", "mutex_contended_std_ns", "go_2_mutex_contended_ns")
    row("unbuffered channel ping-pong, per round trip", "ns", "chan_pingpong_spindle_ns", "chan_pingpong_boost_ns", "",
        "go_1_chan_pingpong_ns")
    row("WaitGroup fork-join of 1000 fibers", "us", "waitgroup_1000_spindle_us", "waitgroup_1000_boost_us", "", "")
    for (i = 1; i <= 4; i++) {
      c = i == 1 ? 1 : (i == 2 ? 16 : (i == 3 ? 256 : 4096))
      row("echo 512 B ping-pong, " c " conns, requests/s (std column: raw epoll server, 1 thread)", "/s",
          "echo_spindle_" c "_rps", "", "echo_epoll_" c "_rps", "echo_go_" c "_rps")
      row("echo, " c " conns, p99 latency (std column: raw epoll)", "us",
          "echo_spindle_" c "_p99_us", "", "echo_epoll_" c "_p99_us", "echo_go_" c "_p99_us")
    }
    row("echo, 4096 conns, server peak RSS (std column: raw epoll)", "MiB",
        "echo_spindle_4096_rss_mib", "", "echo_epoll_4096_rss_mib", "echo_go_4096_rss_mib")
    row("echo, 10,000 idle conns, peak RSS per connection (std column: raw epoll)", "B",
        "echo_spindle_idle_bytes_per_conn", "", "echo_epoll_idle_bytes_per_conn", "echo_go_idle_bytes_per_conn")
    print ""
    print "Game-loop frame (bench/frame): a plain thread forks 64 jobs of ~2 us and waits, 2 workers each (spindle: default options); medians of 5 processes, us."
    print ""
    print "| per frame | spindle spawn_many | spindle spawn + WaitGroup | oneTBB task_group | std::thread + condvar pool | Go | spawn_many / TBB |"
    print "|---|---|---|---|---|---|---|"
    split("sleep:main thread sleeps 1 ms between frames,b2b:frames back to back", modes, ",")
    for (m = 1; m <= 2; m++) {
      split(modes[m], mt, ":")
      split("p50:p50,p99:p99,cpu:CPU per frame", stats, ",")
      for (k = 1; k <= 3; k++) {
        split(stats[k], st, ":")
        pre = "frame_" mt[1] "_"; suf = "_" st[1] "_us"
        printf "| %s: %s | %s | %s | %s | %s | %s | %s |\n", mt[2], st[2], cell(pre "spindle_many" suf, "us"),
               cell(pre "spindle" suf, "us"), cell(pre "tbb" suf, "us"), cell(pre "pool" suf, "us"),
               have_go ? cell(pre "go" suf, "us") : "(no go)", ratio(pre "spindle_many" suf, pre "tbb" suf)
      }
    }
    print ""
    if ("idle_pct" in v) printf "\nIdle 2-worker Scheduler: %.4f%% of one core over 1 s (getrusage).\n", v["idle_pct"]
    if (("skynet_1_spindle_s" in v) && ("skynet_2_spindle_s" in v))
      printf "skynet 1 -> 2 workers speedup: %.2fx.\n", v["skynet_1_spindle_s"] / v["skynet_2_spindle_s"]
  }' "$kv"
