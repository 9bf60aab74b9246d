// game_loop: what spindle is for. A plain main thread runs fixed-rate frames; each
// frame runs that frame's jobs (physics islands, animation, culling) as one
// spawn_many burst on a Scheduler and joins it (the main thread helps);
// long-lived AI fibers think a little every frame, yield cooperatively, and meet
// the frame on a Barrier.
//
//   ./bazelw run //examples:game_loop -- --seconds=3 --workers=0 --jobs=64 --agents=8
//   ./bazelw run //examples:game_loop -- --frames=20   # exactly 20 frames, however long
//
// Prints frame-time percentiles, jobs per frame, steals and worker utilisation.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/barrier.h"
#include "spindle/sync/spawn_many.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  double seconds = 3;
  int workers = 0;  // 0: one per core
  int jobs = 64;    // per frame
  int agents = 8;   // long-lived AI fibers
  int hz = 60;
  int frames = 0;  // > 0: run exactly this many frames instead of --seconds
  int slow_agent_ms = 0;  // AI agent 0 sleeps this long after each frame (a late agent)
};

Flags parse(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::size_t n = std::strlen(name);
      return std::strncmp(a, name, n) == 0 && a[n] == '=' ? a + n + 1 : nullptr;
    };
    if (const char* v = value("--seconds")) f.seconds = std::atof(v);
    else if (const char* v = value("--workers")) f.workers = std::atoi(v);
    else if (const char* v = value("--jobs")) f.jobs = std::atoi(v);
    else if (const char* v = value("--agents")) f.agents = std::atoi(v);
    else if (const char* v = value("--hz")) f.hz = std::atoi(v);
    else if (const char* v = value("--frames")) f.frames = std::atoi(v);
    else if (const char* v = value("--slow-agent-ms")) f.slow_agent_ms = std::atoi(v);
    else {
      std::fprintf(stderr,
                   "usage: game_loop [--seconds=S | --frames=N] [--workers=N] [--jobs=N] [--agents=N] [--hz=N]"
                   " [--slow-agent-ms=N]\n");
      std::exit(2);
    }
  }
  if (f.seconds <= 0 || f.workers < 0 || f.jobs < 1 || f.agents < 0 || f.hz < 1 || f.frames < 0 || f.slow_agent_ms < 0) {
    std::fprintf(stderr, "game_loop: flags out of range\n");
    std::exit(2);
  }
  return f;
}

// Some honest floating-point work standing in for a physics island or a skeleton.
double simulate_island(int seed, int steps) {
  double x = seed * 0.001, v = 1.0;
  for (int i = 0; i < steps; ++i) {
    v += -x * 0.01;
    x += v * 0.01;
    x = std::fmod(x + 1e-9, 10.0);
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = parse(argc, argv);
  spindle::Scheduler sched({.workers = static_cast<std::size_t>(flags.workers), .name = "game"});
  std::printf("game_loop: %zu workers, %d jobs/frame, %d AI agents, %d Hz, %.1f s\n",
              sched.worker_count(), flags.jobs, flags.agents, flags.hz, flags.seconds);

  // AI agents: long-lived fibers; each frame they think, yield between thoughts,
  // and meet the main thread on the barrier (agents + 1 participants).
  //
  // Stopping: the main thread stores the last frame's number before it arrives at
  // that frame's barrier, and an agent leaves after the barrier of the frame whose
  // number it reads there (the barrier orders the store before those reads). A
  // plain "quit" flag read after the barrier would be wrong: an agent that runs late
  // after frame k's barrier (its worker busy, its CPU taken) can read the flag that
  // the main thread set in frame k + 1 and leave without arriving at frame k + 1's
  // barrier, which then waits forever (--slow-agent-ms makes one agent that late).
  std::atomic<long> last_frame{-1};
  std::atomic<long> thoughts{0};
  spindle::Barrier frame_end(static_cast<std::size_t>(flags.agents) + 1);
  std::vector<spindle::JoinHandle<void>> agents;
  for (int a = 0; a < flags.agents; ++a) {
    agents.push_back(spindle::spawn(spindle::FiberOptions{.executor = &sched, .name = "ai"}, [&, a] {
      for (long frame = 0;; ++frame) {
        for (int t = 0; t < 4; ++t) {
          volatile double plan = simulate_island(a * 31 + t, 200);
          (void)plan;
          thoughts.fetch_add(1, std::memory_order_relaxed);
          spindle::this_fiber::yield();  // let frame jobs through
        }
        frame_end.arrive_and_wait();
        if (last_frame.load(std::memory_order_relaxed) == frame) return;
        if (a == 0 && flags.slow_agent_ms > 0) spindle::this_fiber::sleep_for(std::chrono::milliseconds(flags.slow_agent_ms));
      }
    }));
  }

  const auto frame_budget = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / flags.hz));
  std::vector<double> frame_ms;
  std::atomic<double> checksum{0};
  const auto start = Clock::now();
  auto next_frame = start;
  long jobs_run = 0;
  for (bool last = false; !last;) {
    const auto frame_start = Clock::now();
    // The frame's jobs as one burst: the workers and this thread (inside join())
    // run them; join() returns when all have finished.
    spindle::spawn_many(sched, static_cast<std::size_t>(flags.jobs), [&](std::size_t j) {
      // A third each of physics, animation and culling, of different sizes.
      const int steps = j % 3 == 0 ? 4000 : j % 3 == 1 ? 2000 : 500;
      const double r = simulate_island(static_cast<int>(j), steps);
      double c = checksum.load(std::memory_order_relaxed);
      while (!checksum.compare_exchange_weak(c, c + r, std::memory_order_relaxed)) {
      }
    }).join();
    last = flags.frames > 0 ? static_cast<int>(frame_ms.size()) + 1 >= flags.frames
                            : Clock::now() - start >= std::chrono::duration<double>(flags.seconds);
    if (last) last_frame.store(static_cast<long>(frame_ms.size()), std::memory_order_relaxed);  // see the agents
    if (flags.agents > 0) frame_end.arrive_and_wait();  // AI is done with this frame too
    jobs_run += flags.jobs;
    frame_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - frame_start).count());
    next_frame += frame_budget;
    std::this_thread::sleep_until(next_frame);  // fixed rate: idle workers park meanwhile
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();

  for (auto& a : agents) a.join();

  std::sort(frame_ms.begin(), frame_ms.end());
  auto pct = [&](double p) { return frame_ms[std::min(frame_ms.size() - 1, static_cast<std::size_t>(p * frame_ms.size()))]; };
  const spindle::SchedulerStats stats = sched.stats();
  const double busy = 1.0 - stats.parked_seconds / (wall * static_cast<double>(sched.worker_count()));
  std::printf("frames: %zu in %.2f s; frame time p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (budget %.2f ms)\n",
              frame_ms.size(), wall, pct(0.5), pct(0.9), pct(0.99), frame_ms.back(), 1000.0 / flags.hz);
  std::printf("jobs: %d per frame, %ld in all; AI thoughts: %ld\n", flags.jobs, jobs_run, thoughts.load());
  std::printf("scheduler: %llu tasks run, %llu steals, %llu parks, worker utilisation %.1f%%\n",
              static_cast<unsigned long long>(stats.tasks_run), static_cast<unsigned long long>(stats.steals),
              static_cast<unsigned long long>(stats.parks), 100.0 * std::clamp(busy, 0.0, 1.0));
  std::printf("checksum %.3f\ndone\n", checksum.load());
  return 0;
}
