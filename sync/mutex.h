// Mutex: a Lockable for fibers and plain threads alike (std::lock_guard,
// std::unique_lock, std::scoped_lock all work).
//
//   spindle::Mutex m;
//   { std::lock_guard<spindle::Mutex> g(m); ++shared; }
//
// Uncontended, lock() and unlock() are one atomic compare-exchange each (also
// while others wait, as long as one of them has already been woken). Under
// contention a locker spins briefly, then parks (a fiber) or blocks (a thread) in a
// FIFO queue. Normally an unlock releases the lock and wakes the oldest waiter,
// which then competes with newcomers (barging keeps throughput high). A waiter that
// has been passed over for more than kStarvationThreshold switches the mutex to
// hand-off mode: unlocks then give the lock directly to the queue's head, in order,
// until the queue drains or a waiter gets it quickly again. Nobody starves.
//
// Misuse ends the program with a message naming the mutex and the caller:
// unlocking a mutex the caller does not hold, and destroying one that is locked or
// waited on. Recursive locking deadlocks (as with std::mutex).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "spindle/fibers/spin_lock.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sync/misuse.h"
#include "spindle/sync/wait_list.h"

namespace spindle {

class Mutex {
 public:
  static constexpr std::chrono::microseconds kStarvationThreshold{1000};

  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  // Dies if the mutex is locked or has waiters.
  ~Mutex();

  // Blocks the calling fiber (parked) or thread until the mutex is acquired.
  void lock() {
    // Free is enough, waiters or not (barging): one compare-exchange that expects
    // the state it saw, so that a queue of waiters does not make it fail.
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if ((s & kLocked) != 0 ||
        !state_.compare_exchange_strong(s, s | kLocked, std::memory_order_acquire, std::memory_order_relaxed)) {
      lock_slow();
      return;
    }
    owner_.store(detail::caller_id(), std::memory_order_relaxed);
  }

  // Never blocks. May succeed while others wait (it does not queue).
  bool try_lock() {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if ((s & kLocked) != 0 ||
        !state_.compare_exchange_strong(s, s | kLocked, std::memory_order_acquire, std::memory_order_relaxed)) {
      return false;
    }
    owner_.store(detail::caller_id(), std::memory_order_relaxed);
    return true;
  }

  // Never blocks. Dies unless the caller (same fiber, or same plain thread) holds
  // the mutex.
  void unlock() {
    check_owner();
    owner_.store(0, std::memory_order_relaxed);
    // Release pairs with the acquire of the next lock()/try_lock(). With waiters
    // queued and one already woken (kWoken), there is nobody to wake: release too.
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if ((s & (kHandoff | kWoken)) == kWoken || (s & kWaiters) == 0) {
      if (state_.compare_exchange_strong(s, s & ~kLocked, std::memory_order_release, std::memory_order_relaxed)) return;
    }
    unlock_slow(s);
  }

  // For diagnostics and tests; racy by nature.
  bool is_locked() const { return (state_.load(std::memory_order_relaxed) & kLocked) != 0; }

 private:
  // State bits. Invariants: kHandoff implies kWaiters; both are changed only under
  // qlock_ and cleared together when the queue empties. kLocked stays set across a
  // hand-off (ownership moves without the lock ever being free).
  static constexpr std::uint32_t kLocked = 1;   // held
  static constexpr std::uint32_t kWoken = 2;    // a waiter was woken to compete: wake no other yet
  static constexpr std::uint32_t kHandoff = 4;  // starvation mode: unlock passes ownership to the head
  static constexpr std::uint32_t kWaiters = 8;  // the queue may be non-empty: unlock takes the slow path

  void lock_slow();
  bool spin_acquire(std::uint64_t me);
  void unlock_slow(std::uint32_t s);
  bool hand_off();
  void check_owner() const {
    const std::uint64_t owner = owner_.load(std::memory_order_relaxed);
    if (owner != detail::caller_id()) [[unlikely]] not_owner(owner);
  }
  [[noreturn]] void not_owner(std::uint64_t owner) const;

  std::atomic<std::uint32_t> state_{0};
  // caller_id() of the holder, 0 when free. Only the holder writes it; used for
  // misuse checks and messages.
  std::atomic<std::uint64_t> owner_{0};
  detail::SpinLock qlock_;  // guards waiters_ and the kWaiters/kHandoff bits
  detail::WaiterList waiters_;
};

}  // namespace spindle
