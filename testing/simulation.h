// Deterministic simulation: run a test body and every fiber it spawns on the
// calling thread, letting a seeded PRNG choose which runnable fiber goes next at
// every park, yield and fault point. Same seed, same interleaving. Time is
// simulated: when nothing can run, the clock jumps to the next timer, so sleeps
// and timeouts take no real time and replay exactly.
//
//   auto r = spindle::testing::simulate(42, [] { ...spawn, join, lock... });
//   if (!r.ok()) std::puts(r.message.c_str());   // failure or deadlock report
//
//   // many seeds; stops at the first failure and says how to replay it:
//   auto e = spindle::testing::explore([] { ... }, {.seeds = 1000});
//
// SPINDLE_SEED=<n> in the environment makes explore() run only seed n.
//
// What the body may use: spawn/join, this_fiber, Waiter and everything in sync/,
// as long as all of it runs on the simulation's fibers. Plain threads, real
// blocking calls (std::mutex contention, I/O) and other executors are outside
// the simulation and break determinism.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "spindle/sched/executor.h"

namespace spindle::testing {

struct SimOptions {
  // Chance that a fault point (spindle::fault_point(), or SPINDLE_FAULT_POINT() in
  // --config=faults builds) preempts the running fiber.
  double preempt_probability = 0.5;
  // A run taking more scheduling steps than this is reported as a livelock.
  std::uint64_t max_steps = 5'000'000;
};

struct SimResult {
  enum class Outcome { kPassed, kFailed, kDeadlock, kLivelock };
  Outcome outcome = Outcome::kPassed;
  std::uint64_t seed = 0;
  std::uint64_t steps = 0;      // scheduling decisions taken
  std::string message;          // what failed; for deadlocks, every parked fiber
  bool ok() const { return outcome == Outcome::kPassed; }
};

// Runs `body` on a fiber of a fresh simulation seeded with `seed`. An exception
// escaping the body (or an abandoned join on a fiber that threw) is a failure;
// fibers that can never run again while some are parked are a deadlock. Fibers
// left parked by a deadlock (or running in a livelock) are abandoned: kept, never
// freed. Under ASan, allocations made inside a simulation are not leak-checked.
SimResult simulate(std::uint64_t seed, const std::function<void()>& body, const SimOptions& options = {});

struct ExploreOptions {
  std::uint64_t seeds = 1000;       // how many seeds to try
  std::uint64_t first_seed = 1;
  double time_budget_seconds = 0;   // stop early when spent (0: no budget)
  SimOptions sim;
  // Extra check after each seed (e.g. "did gtest record a failure?").
  std::function<bool()> failed_after_run;
};

struct ExploreResult {
  std::uint64_t seeds_run = 0;
  bool found_failure = false;
  SimResult failure;  // the first failing run
  double seconds = 0;
};

// Runs `body` under seeds first_seed, first_seed+1, ... until a run fails; prints
// the failing seed and `SPINDLE_SEED=<n>` to stderr.
ExploreResult explore(const std::function<void()>& body, const ExploreOptions& options = {});

// True while the calling thread runs a simulation.
bool in_simulation();

}  // namespace spindle::testing
