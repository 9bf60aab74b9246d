#include "spindle/sched/parker.h"

namespace spindle::detail {

void Parker::park(std::optional<Clock::time_point> deadline) {
  // Both acquires pair with unpark()'s release exchange: what the unparker wrote
  // before unpark() is visible once we took its permit.
  if (permit_.exchange(0, std::memory_order_acquire) == 1) return;
  futex_wait(&permit_, 0, deadline);
  permit_.exchange(0, std::memory_order_acquire);
}

void Parker::unpark() {
  if (permit_.exchange(1, std::memory_order_release) == 0) futex_wake(&permit_, 1);
}

}  // namespace spindle::detail
