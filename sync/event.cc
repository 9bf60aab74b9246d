#include "spindle/sync/event.h"

#include <mutex>

#include "spindle/sync/fault_point.h"
#include "spindle/sync/misuse.h"

namespace spindle {

Event::~Event() {
  std::lock_guard<detail::SpinLock> g(lock_);
  if (!waiters_.empty()) detail::sync_misuse("Event", this, "destroyed while fibers or threads wait on it");
}

bool Event::try_consume() {
  if (mode_ == Mode::kManualReset) return set_.load(std::memory_order_acquire);
  bool expected = true;
  return set_.load(std::memory_order_relaxed) &&
         set_.compare_exchange_strong(expected, false, std::memory_order_acquire, std::memory_order_relaxed);
}

// Lifetime: an Event may be destroyed as soon as a wait() returns. set() works
// under lock_ and its unlock is its last touch of the Event, so a wait() that
// succeeds takes lock_ once before returning.
bool Event::wait_impl(std::optional<Clock::time_point> deadline, const std::stop_token& stop) {
  if (try_consume()) {
    detail::sync_with_notifier(lock_);
    return true;
  }
  SPINDLE_FAULT_POINT();
  std::unique_lock<detail::SpinLock> lk(lock_);
  // set() changes set_ and the queue under lock_, so this check and the enqueue
  // below are atomic with respect to it: no wakeup is lost.
  if (try_consume()) return true;
  Waiter w;
  w.object = this;
  w.kind = "event";
  const bool notified = detail::park_in(lk, waiters_, w, deadline, stop) == WakeReason::kNotified;
  if (notified) detail::sync_with_notifier(lock_);
  return notified;
}

void Event::set() {
  SPINDLE_FAULT_POINT();
  // Notify under lock_: a waiter that timed out withdraws under lock_, so the
  // Waiter we point at cannot vanish before notify() returns.
  std::lock_guard<detail::SpinLock> g(lock_);
  if (mode_ == Mode::kManualReset) {
    set_.store(true, std::memory_order_release);
    Waiter* w = waiters_.take_all();
    while (w != nullptr) {
      Waiter* next = w->next;
      w->notify();  // false: it timed out or was stopped; nothing to give back
      w = next;
    }
    return;
  }
  // Auto reset: the signal goes to the first waiter still waiting (not timed out,
  // not stopped), else it stays.
  while (Waiter* w = waiters_.pop_front()) {
    if (w->notify()) return;
  }
  set_.store(true, std::memory_order_release);
}

}  // namespace spindle
