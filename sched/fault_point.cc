#include "spindle/sched/fault_point.h"

namespace spindle::detail {

std::atomic<FaultHook> g_fault_hook{nullptr};

int& spin_locks_held() {
  thread_local int held = 0;
  return held;
}

}  // namespace spindle::detail
