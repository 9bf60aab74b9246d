#include "spindle/sync/semaphore.h"

#include <mutex>

#include "spindle/sync/fault_point.h"
#include "spindle/sync/misuse.h"

namespace spindle {

Semaphore::~Semaphore() {
  std::lock_guard<detail::SpinLock> g(lock_);
  if (!waiters_.empty()) detail::sync_misuse("Semaphore", this, "destroyed while fibers or threads wait on it");
}

bool Semaphore::acquire_slow(std::optional<Clock::time_point> deadline, const std::stop_token& stop) {
  SPINDLE_FAULT_POINT();
  std::unique_lock<detail::SpinLock> lk(lock_);
  // release() adds to count_ only under lock_ and only with no waiter queued, so
  // either this sees its permit or release() will find us in the queue.
  if (try_acquire()) return true;
  Waiter w;
  w.object = this;
  w.kind = "semaphore";
  // Notified means a permit was handed to us directly.
  return detail::park_in(lk, waiters_, w, deadline, stop) == WakeReason::kNotified;
}

void Semaphore::release(std::int64_t n) {
  if (n < 0) detail::sync_misuse("Semaphore", this, "release() of a negative count");
  if (n == 0) return;
  SPINDLE_FAULT_POINT();
  // Notify under lock_: a timed-out or stopped waiter withdraws under it (see
  // wait_list.h). A failed notify() means that waiter timed out or was stopped; its
  // permit goes to the next.
  std::lock_guard<detail::SpinLock> g(lock_);
  while (n > 0) {
    Waiter* w = waiters_.pop_front();
    if (w == nullptr) break;
    if (w->notify()) --n;
  }
  if (n > 0) count_.fetch_add(n, std::memory_order_release);
}

}  // namespace spindle
