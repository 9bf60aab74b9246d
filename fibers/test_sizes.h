// Test support shared by spindle's own tests. Iteration counts for stress tests:
// full size normally, smaller under sanitizers (which slow fibers down 5-20x) so
// the default test run stays within budget.
#pragma once

#include <cstddef>

#include "spindle/coro/sanitizers.h"
#include "spindle/sched/scheduler.h"

namespace spindle::testing_sizes {
#if SPINDLE_ASAN || SPINDLE_TSAN
inline constexpr int kScale = 10;
#else
inline constexpr int kScale = 1;
#endif

// A small unpinned Scheduler for tests (the CI machine has 2 cores, shared).
inline SchedulerOptions unpinned(std::size_t workers, const char* name) {
  SchedulerOptions o;
  o.workers = workers;
  o.pinning = Pinning::kNone;
  o.name = name;
  return o;
}
}  // namespace spindle::testing_sizes
