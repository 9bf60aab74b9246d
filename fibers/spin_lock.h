// SpinLock: a small lock for the wait queues of sync primitives.
//
// Why not std::mutex: a fiber takes the queue's lock, enqueues itself, and the
// lock is released by the park callback (fibers/waiter.h) after the switch, on
// the worker's own context — always the same OS thread that took it. pthread mutexes may not be released by another thread
// (and ThreadSanitizer, which sees each fiber as a thread, reports it); an atomic
// flag has no owner. Hold times are a few instructions, so contention spins
// briefly and then yields the thread.
#pragma once

#include <atomic>
#include <thread>

#include "spindle/sched/spin_pause.h"
#include "spindle/sched/fault_point.h"

namespace spindle::detail {

class SpinLock {
 public:
  void lock() noexcept {
#if defined(SPINDLE_FAULT_INJECTION) && SPINDLE_FAULT_INJECTION
    ++spin_locks_held();  // lock and unlock run on the same OS thread (see above)
#endif
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          spin_pause();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    const bool acquired = !locked_.exchange(true, std::memory_order_acquire);
#if defined(SPINDLE_FAULT_INJECTION) && SPINDLE_FAULT_INJECTION
    if (acquired) ++spin_locks_held();
#endif
    return acquired;
  }
  // Release pairs with the acquire of the next lock().
  void unlock() noexcept {
    locked_.store(false, std::memory_order_release);
#if defined(SPINDLE_FAULT_INJECTION) && SPINDLE_FAULT_INJECTION
    --spin_locks_held();
#endif
  }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace spindle::detail
