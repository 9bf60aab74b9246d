// Fiber operations, spindle against Boost.Fiber (and std::thread where it applies),
// measured in one run:
//   spawn_join   spawn one empty fiber and join it, one at a time, from a fiber
//   yield        two fibers yielding to each other on one worker (cost per yield)
//   wake         a plain thread spawns onto a parked pool: time until the fiber runs
//                (median; peer: std::condition_variable waking a sleeping thread)
//   idle         CPU used by an idle 2-worker Scheduler over 1 s (% of one core)
//
//   ./bazelw run --config=bench //bench:fiber_ops
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/scheduler.h"

namespace {

using Clock = std::chrono::steady_clock;

// Best ns per op of each of two contenders, their runs interleaved (a, b, a, b...)
// so that a slow spell of the shared machine hits both alike.
template <class A, class B>
std::pair<double, double> best_ns_per_op(int ops, int reps, A&& a, B&& b) {  // a(ops), b(ops) -> seconds
  double best_a = 1e30, best_b = 1e30;
  for (int r = 0; r < reps; ++r) {
    best_a = std::min(best_a, a(ops) * 1e9 / ops);
    best_b = std::min(best_b, b(ops) * 1e9 / ops);
  }
  return {best_a, best_b};
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// --- spawn + join ---------------------------------------------------------------------
double spindle_spawn_join(spindle::Scheduler& sched, int ops) {
  return spindle::spawn(sched, [ops] {
           const auto start = Clock::now();
           for (int i = 0; i < ops; ++i) spindle::spawn([] {}).join();
           return seconds_since(start);
         }).join();
}

double boost_spawn_join(int ops) {
  const auto start = Clock::now();
  for (int i = 0; i < ops; ++i) boost::fibers::fiber([] {}).join();
  return seconds_since(start);
}

// --- yield ping-pong ------------------------------------------------------------------
double spindle_yield(spindle::Scheduler& sched, int ops) {
  return spindle::spawn(sched, [ops] {
           const auto start = Clock::now();
           auto other = spindle::spawn([ops] {
             for (int i = 0; i < ops / 2; ++i) spindle::this_fiber::yield();
           });
           for (int i = 0; i < ops / 2; ++i) spindle::this_fiber::yield();
           other.join();
           return seconds_since(start);
         }).join();
}

double boost_yield(int ops) {
  const auto start = Clock::now();
  boost::fibers::fiber other([ops] {
    for (int i = 0; i < ops / 2; ++i) boost::this_fiber::yield();
  });
  for (int i = 0; i < ops / 2; ++i) boost::this_fiber::yield();
  other.join();
  return seconds_since(start);
}

// --- wake latency ---------------------------------------------------------------------
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double spindle_wake_latency_ns(spindle::Scheduler& sched, int samples) {
  std::vector<double> ns;
  for (int i = 0; i < samples; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the workers park
    const auto submitted = Clock::now();
    auto h = spindle::spawn(sched, [] { return Clock::now(); });
    ns.push_back(std::chrono::duration<double, std::nano>(h.join() - submitted).count());
  }
  return median(ns);
}

double condvar_wake_latency_ns(int samples) {
  std::mutex m;
  std::condition_variable cv;
  bool ready = false, stop = false;
  Clock::time_point woke;
  std::atomic<int> seen{0};
  std::thread sleeper([&] {
    std::unique_lock<std::mutex> lk(m);
    for (;;) {
      cv.wait(lk, [&] { return ready || stop; });
      if (stop) return;
      woke = Clock::now();
      ready = false;
      seen++;
    }
  });
  std::vector<double> ns;
  for (int i = 0; i < samples; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const auto submitted = Clock::now();
    {
      std::lock_guard<std::mutex> lk(m);
      ready = true;
    }
    cv.notify_one();
    while (seen.load() != i + 1) std::this_thread::yield();
    std::lock_guard<std::mutex> lk(m);
    ns.push_back(std::chrono::duration<double, std::nano>(woke - submitted).count());
  }
  {
    std::lock_guard<std::mutex> lk(m);
    stop = true;
  }
  cv.notify_one();
  sleeper.join();
  return median(ns);
}

// --- idle cost ------------------------------------------------------------------------
double cpu_seconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec * 1e-6;
}

}  // namespace

int main(int argc, char** argv) {
  const bool kv = argc == 2 && std::string(argv[1]) == "--kv";  // for bench/compare.sh
  boost::fibers::use_scheduling_algorithm<boost::fibers::algo::round_robin>();
  spindle::Scheduler one({.workers = 1, .name = "bench-1"});

  const auto [sj_s, sj_b] = best_ns_per_op(
      200'000, 7, [&](int n) { return spindle_spawn_join(one, n); }, [](int n) { return boost_spawn_join(n); });
  const auto [y_s, y_b] = best_ns_per_op(
      2'000'000, 7, [&](int n) { return spindle_yield(one, n); }, [](int n) { return boost_yield(n); });

  double wake_s, wake_pinned, idle_pct;
  {
    // Pinned workers cannot be woken on the waker's CPU; in a VM that wake (an IPI
    // to a halted vCPU) costs far more than the scheduler's own work, so both are
    // reported.
    spindle::Scheduler pinned({.workers = 2, .pinning = spindle::Pinning::kCores, .name = "bench-pin"});
    wake_pinned = spindle_wake_latency_ns(pinned, 300);
  }
  {
    spindle::Scheduler two({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "bench-2"});
    wake_s = spindle_wake_latency_ns(two, 300);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const double before = cpu_seconds();
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    idle_pct = 100.0 * (cpu_seconds() - before) / seconds_since(start);
  }
  const double wake_cv = condvar_wake_latency_ns(300);

  if (kv) {
    std::printf("spawn_join_spindle_ns %.1f\nspawn_join_boost_ns %.1f\n", sj_s, sj_b);
    std::printf("yield_spindle_ns %.1f\nyield_boost_ns %.1f\n", y_s, y_b);
    std::printf("wake_spindle_us %.2f\nwake_pinned_spindle_us %.2f\nwake_condvar_us %.2f\nidle_pct %.4f\n",
                wake_s / 1000, wake_pinned / 1000, wake_cv / 1000, idle_pct);
    return 0;
  }
  std::printf("| figure | spindle | peer | ratio |\n|---|---|---|---|\n");
  std::printf("| spawn+join one empty fiber | %.0f ns | Boost.Fiber %.0f ns | %.3fx |\n", sj_s, sj_b, sj_s / sj_b);
  std::printf("| yield ping-pong, 1 worker | %.1f ns | Boost.Fiber %.1f ns | %.3fx |\n", y_s, y_b, y_s / y_b);
  std::printf("| wake a parked pool from a plain thread (median) | %.1f us | condvar wakes a thread %.1f us | %.2fx |\n",
              wake_s / 1000, wake_cv / 1000, wake_s / wake_cv);
  std::printf("| same, workers pinned to cores | %.1f us | condvar wakes a thread %.1f us | %.2fx |\n",
              wake_pinned / 1000, wake_cv / 1000, wake_pinned / wake_cv);
  std::printf("| idle 2-worker Scheduler, CPU over 1 s | %.3f%% of a core | - | - |\n", idle_pct);
  return 0;
}
