#include "spindle/sync/barrier.h"

#include <mutex>

#include "spindle/sync/fault_point.h"
#include "spindle/sync/misuse.h"

namespace spindle {

Barrier::Barrier(std::size_t participants) : participants_(participants) {
  if (participants == 0) detail::sync_misuse("Barrier", this, "needs at least one participant");
}

Barrier::~Barrier() {
  std::lock_guard<detail::SpinLock> g(lock_);
  if (!waiters_.empty()) detail::sync_misuse("Barrier", this, "destroyed while fibers or threads wait on it");
}

std::uint64_t Barrier::phase() const {
  std::lock_guard<detail::SpinLock> g(lock_);
  return phase_;
}

bool Barrier::arrive_and_wait() {
  SPINDLE_FAULT_POINT();
  std::unique_lock<detail::SpinLock> lk(lock_);
  if (++arrived_ == participants_) {
    arrived_ = 0;
    ++phase_;
    Waiter* w = waiters_.take_all();
    lk.unlock();
    // Barrier waits have no deadline: these notify() calls cannot fail, and the
    // list is detached, so they run outside the lock. Read `next` first.
    while (w != nullptr) {
      Waiter* next = w->next;
      w->notify();
      w = next;
    }
    return true;
  }
  Waiter w;
  w.object = this;
  w.kind = "barrier";
  detail::park_in(lk, waiters_, w);
  return false;
}

}  // namespace spindle
