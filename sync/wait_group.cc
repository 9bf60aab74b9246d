#include "spindle/sync/wait_group.h"

#include <mutex>

#include "spindle/sync/fault_point.h"
#include "spindle/sync/misuse.h"

namespace spindle {

WaitGroup::~WaitGroup() {
  std::lock_guard<detail::SpinLock> g(lock_);
  if (!waiters_.empty()) detail::sync_misuse("WaitGroup", this, "destroyed while fibers or threads wait on it");
}

void WaitGroup::add(std::int64_t n) {
  const std::int64_t v = count_.fetch_add(n, std::memory_order_acq_rel) + n;
  if (v < 0) detail::sync_misuse("WaitGroup", this, "negative counter: done() or add() called more often than add()");
  if (v != 0 || n == 0) return;
  SPINDLE_FAULT_POINT();
  // Under lock_: a waiter checks the counter and enqueues under it, so it either saw
  // zero or is in the list now. Notify under lock_ as timed waiters may withdraw.
  std::lock_guard<detail::SpinLock> g(lock_);
  Waiter* w = waiters_.take_all();
  while (w != nullptr) {
    Waiter* next = w->next;
    w->notify();
    w = next;
  }
}

bool WaitGroup::wait_impl(std::optional<Clock::time_point> deadline) {
  if (count_.load(std::memory_order_acquire) == 0) return true;
  SPINDLE_FAULT_POINT();
  std::unique_lock<detail::SpinLock> lk(lock_);
  if (count_.load(std::memory_order_acquire) == 0) return true;
  Waiter w;
  w.object = this;
  w.kind = "wait_group";
  return detail::park_in(lk, waiters_, w, deadline) == WakeReason::kNotified;
}

}  // namespace spindle
