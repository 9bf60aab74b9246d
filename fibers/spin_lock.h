// SpinLock: a small lock for the wait queues of sync primitives.
//
// Why not std::mutex: a fiber takes the queue's lock, enqueues itself, and the
// lock is released by the park callback (fibers/waiter.h) after the switch, on
// the worker's own context. pthread mutexes may not be released by another thread
// (and ThreadSanitizer, which sees each fiber as a thread, reports it); an atomic
// flag has no owner. Hold times are a few instructions, so contention spins
// briefly and then yields the thread.
#pragma once

#include <atomic>
#include <thread>

namespace spindle::detail {

class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
#if defined(__x86_64__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
  // Release pairs with the acquire of the next lock().
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace spindle::detail
