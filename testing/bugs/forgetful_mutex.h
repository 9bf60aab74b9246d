// PLANTED BUG (harness tests only): a mutex whose unlock forgets a waiter.
// unlock() wakes a queued waiter only when more than one is queued, so a lone
// waiter sleeps forever once the holder leaves: a lost wakeup, reported by the
// simulator as a deadlock.
#pragma once

#include <mutex>

#include "spindle/fibers/spin_lock.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sched/fault_point.h"
#include "spindle/sync/wait_list.h"

namespace spindle::testing::bugs {

class ForgetfulMutex {
 public:
  void lock() {
    for (;;) {
      std::unique_lock<detail::SpinLock> lk(guard_);
      if (!locked_) {
        locked_ = true;
        return;
      }
      Waiter w;
      w.object = this;
      w.kind = "ForgetfulMutex";
      waiters_.push_back(&w);
      ++queued_;
      w.wait([&lk] {
        lk.release()->unlock();
        return true;
      });
    }
  }

  void unlock() {
    fault_point();
    std::lock_guard<detail::SpinLock> g(guard_);
    locked_ = false;
    if (queued_ > 1) {  // BUG: should be > 0
      Waiter* w = waiters_.pop_front();
      --queued_;
      w->notify();
    }
  }

 private:
  detail::SpinLock guard_;
  bool locked_ = false;
  int queued_ = 0;
  detail::WaiterList waiters_;
};

}  // namespace spindle::testing::bugs
