// Test support shared by spindle's own tests. Iteration counts for stress tests:
// full size normally, smaller under sanitizers (which slow fibers down 5-20x) and
// under emulation (qemu-aarch64, wine64: the cross configs in .bazelrc set
// SPINDLE_TEST_SCALE, a divisor) so that every run stays within budget. Only the
// counts shrink: every assertion still runs.
#pragma once

#include <cstddef>
#include <cstdlib>

#include "spindle/coro/sanitizers.h"
#include "spindle/sched/scheduler.h"

namespace spindle::testing_sizes {
#if SPINDLE_ASAN || SPINDLE_TSAN
inline constexpr int kSanitizerScale = 10;
#else
inline constexpr int kSanitizerScale = 1;
#endif

// SPINDLE_TEST_SCALE=<n> (n >= 1) divides stress iteration counts by n.
inline int env_scale() {
  const char* v = std::getenv("SPINDLE_TEST_SCALE");
  const int n = v != nullptr ? std::atoi(v) : 1;
  return n >= 1 ? n : 1;
}

// The divisor of stress tests' iteration counts.
inline const int kScale = kSanitizerScale * env_scale();

// A small unpinned Scheduler for tests (the CI machine has 2 cores, shared).
inline SchedulerOptions unpinned(std::size_t workers, const char* name) {
  SchedulerOptions o;
  o.workers = workers;
  o.pinning = Pinning::kNone;
  o.name = name;
  return o;
}
}  // namespace spindle::testing_sizes
