#include "spindle/sync/cond_var.h"

#include <mutex>

#include "spindle/sync/fault_point.h"
#include "spindle/sync/misuse.h"

namespace spindle {

CondVar::~CondVar() {
  std::lock_guard<detail::SpinLock> g(qlock_);
  if (!waiters_.empty()) detail::sync_misuse("CondVar", this, "destroyed while fibers or threads wait on it");
}

std::uint64_t CondVar::begin_wait() {
  std::lock_guard<detail::SpinLock> g(qlock_);
  return epoch_;
}

bool CondVar::park(std::uint64_t epoch, std::optional<Clock::time_point> deadline, const std::stop_token& stop) {
  SPINDLE_FAULT_POINT();
  std::unique_lock<detail::SpinLock> lk(qlock_);
  if (epoch_ != epoch) return true;  // notified while we let go of the user's lock
  Waiter w;
  w.object = this;
  w.kind = "cond_var";
  return detail::park_in(lk, waiters_, w, deadline, stop) == WakeReason::kNotified;
}

void CondVar::notify_one() {
  SPINDLE_FAULT_POINT();
  // Under qlock_: timed-out waiters withdraw under it (wait_list.h).
  std::lock_guard<detail::SpinLock> g(qlock_);
  ++epoch_;
  while (Waiter* w = waiters_.pop_front()) {
    if (w->notify()) return;
  }
}

void CondVar::notify_all() {
  SPINDLE_FAULT_POINT();
  std::lock_guard<detail::SpinLock> g(qlock_);
  ++epoch_;
  Waiter* w = waiters_.take_all();
  while (w != nullptr) {
    Waiter* next = w->next;
    w->notify();
    w = next;
  }
}

}  // namespace spindle
