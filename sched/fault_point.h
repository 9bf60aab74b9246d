// Fault points: places where a test harness (testing/) may perturb the program —
// delay the thread, yield the fiber, or let the deterministic simulator switch to
// another fiber — to shake out races.
//
//   spindle::fault_point();   // always compiled; costs one relaxed load when no
//                             // injector or simulator is installed. For user code.
//   SPINDLE_FAULT_POINT();    // the runtime's own slow paths: compiled only in
//                             // fault-injection builds (--config=faults), else nothing.
//
// A fault point may be reached with a detail::SpinLock held (wait-queue locks); in
// fault builds SpinLock counts the locks held per thread, and harnesses then only
// delay the thread, never park the fiber (another fiber on the same thread would
// spin on that lock forever).
#pragma once

#include <atomic>

namespace spindle {
namespace detail {

// Installed by testing/ (FaultInjector, simulations); null otherwise.
using FaultHook = void (*)();
extern std::atomic<FaultHook> g_fault_hook;

// SpinLocks held by the calling thread (fault builds only; always 0 otherwise).
// Out of line: the count is read after switches that may change threads.
[[gnu::noinline]] int& spin_locks_held();

}  // namespace detail

inline void fault_point() {
  if (detail::FaultHook hook = detail::g_fault_hook.load(std::memory_order_relaxed)) hook();
}

}  // namespace spindle

#if defined(SPINDLE_FAULT_INJECTION) && SPINDLE_FAULT_INJECTION
#define SPINDLE_FAULT_POINT() ::spindle::fault_point()
#else
#define SPINDLE_FAULT_POINT() \
  do {                        \
  } while (false)
#endif
