// PLANTED BUG (harness tests only): a WaitGroup whose done() is check-then-act. It
// reads the counter, reaches a fault point, then writes counter - 1: two done()s
// that interleave there lose a decrement, the counter never reaches zero, and the
// waiter is stuck (a deadlock).
#pragma once

#include <mutex>

#include "spindle/fibers/spin_lock.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sched/fault_point.h"

namespace spindle::testing::bugs {

class RacyWaitGroup {
 public:
  void add(int n) { count_ += n; }

  void done() {
    const int seen = count_;  // BUG: not one atomic step with the write below
    fault_point();
    count_ = seen - 1;
    if (count_ == 0) {
      std::lock_guard<detail::SpinLock> g(guard_);
      if (waiter_ != nullptr) std::exchange(waiter_, nullptr)->notify();
    }
  }

  void wait() {
    std::unique_lock<detail::SpinLock> lk(guard_);
    if (count_ == 0) return;
    Waiter w;
    w.object = this;
    w.kind = "RacyWaitGroup";
    waiter_ = &w;
    w.wait([&lk] {
      lk.release()->unlock();
      return true;
    });
  }

 private:
  detail::SpinLock guard_;
  int count_ = 0;  // simulation runs on one thread: plain int is enough to show the race
  Waiter* waiter_ = nullptr;
};

}  // namespace spindle::testing::bugs
