#include "spindle/sync/wait_group.h"

#include <mutex>

#include "spindle/sync/fault_point.h"
#include "spindle/sync/misuse.h"

namespace spindle {

WaitGroup::~WaitGroup() {
  std::lock_guard<detail::SpinLock> g(lock_);
  if (!waiters_.empty()) detail::sync_misuse("WaitGroup", this, "destroyed while fibers or threads wait on it");
}

// Lifetime: a WaitGroup may be destroyed as soon as wait() returns (Go's pattern:
// wg on the stack, wait, return). So the add() that brings the counter to zero
// does so under lock_ and notifies under lock_, and wait() never returns before
// taking lock_ once after seeing zero: once the zeroing add() lets go of lock_
// it touches nothing of the WaitGroup again.
void WaitGroup::add(std::int64_t n) {
  std::int64_t c = count_.load(std::memory_order_acquire);
  for (;;) {
    const std::int64_t v = c + n;
    if (v < 0) detail::sync_misuse("WaitGroup", this, "negative counter: done() or add() called more often than add()");
    if (v == 0 && n != 0) break;  // reaching zero: under the lock, below
    if (count_.compare_exchange_weak(c, v, std::memory_order_acq_rel, std::memory_order_acquire)) return;
  }
  SPINDLE_FAULT_POINT();
  std::lock_guard<detail::SpinLock> g(lock_);
  const std::int64_t v = count_.fetch_add(n, std::memory_order_acq_rel) + n;
  if (v < 0) detail::sync_misuse("WaitGroup", this, "negative counter: done() or add() called more often than add()");
  if (v != 0) return;
  // Notify under lock_: timed-out and stopped waiters withdraw under it, so none
  // vanishes first.
  Waiter* w = waiters_.take_all();
  while (w != nullptr) {
    Waiter* next = w->next;
    w->notify();
    w = next;
  }
}

bool WaitGroup::wait_impl(std::optional<Clock::time_point> deadline, const std::stop_token& stop) {
  if (count_.load(std::memory_order_acquire) == 0) {
    detail::sync_with_notifier(lock_);
    return true;
  }
  SPINDLE_FAULT_POINT();
  std::unique_lock<detail::SpinLock> lk(lock_);
  if (count_.load(std::memory_order_acquire) == 0) return true;
  Waiter w;
  w.object = this;
  w.kind = "wait_group";
  const bool notified = detail::park_in(lk, waiters_, w, deadline, stop) == WakeReason::kNotified;
  if (notified) detail::sync_with_notifier(lock_);
  return notified;
}

}  // namespace spindle
