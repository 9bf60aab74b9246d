// Mutex: a Lockable for fibers and plain threads alike (std::lock_guard,
// std::unique_lock, std::scoped_lock all work).
//
//   spindle::Mutex m;
//   { std::lock_guard<spindle::Mutex> g(m); ++shared; }
//
// lock() and unlock() are one atomic read-modify-write each while the mutex is
// free, whether or not others wait (as long as one of them was already woken). Under
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
    // One atomic bit-test-and-set: free is enough, waiters or not (barging). An
    // RMW that needs no expected value also avoids a load before it, which costs
    // as much again on x86.
    if ((state_.fetch_or(kLocked, std::memory_order_acquire) & kLocked) != 0) [[unlikely]] {
      lock_slow();
      return;
    }
    owner_.store(detail::caller_id(), std::memory_order_relaxed);
  }

  // Never blocks. May succeed while others wait (it does not queue).
  bool try_lock() {
    if ((state_.fetch_or(kLocked, std::memory_order_acquire) & kLocked) != 0) return false;
    owner_.store(detail::caller_id(), std::memory_order_relaxed);
    return true;
  }

  // Never blocks. Dies unless the caller (same fiber, or same plain thread) holds
  // the mutex.
  void unlock() {
    check_owner();
    // One atomic add that clears kLocked and returns the flags. Release pairs with
    // the acquire of the next lock()/try_lock(). Nothing more to do unless a waiter
    // should be woken (none woken yet) or the lock should have been handed over.
    const std::uint32_t old = state_.fetch_sub(kLocked, std::memory_order_release);
    if ((old & (kLocked | kHandoff)) == kLocked && (old & (kWaiters | kWoken)) != kWaiters) return;
    unlock_slow(old);
  }

  // For diagnostics and tests; racy by nature.
  bool is_locked() const { return (state_.load(std::memory_order_relaxed) & kLocked) != 0; }

 private:
  // State bits. Invariants: kHandoff implies kWaiters; both are changed only under
  // qlock_ and cleared together when the queue empties. In hand-off mode unlock()
  // releases and at once re-takes the lock (a newcomer can win only in between)
  // to pass it to the queue's head without it being free again.
  static constexpr std::uint32_t kLocked = 1;   // held
  static constexpr std::uint32_t kWoken = 2;    // a waiter was woken to compete: wake no other yet
  static constexpr std::uint32_t kHandoff = 4;  // starvation mode: unlock passes ownership to the head
  static constexpr std::uint32_t kWaiters = 8;  // the queue may be non-empty: unlock takes the slow path

  void lock_slow();
  bool spin_acquire(std::uint64_t me);
  bool try_acquire(std::uint64_t me) {
    if ((state_.fetch_or(kLocked, std::memory_order_acquire) & kLocked) != 0) return false;
    owner_.store(me, std::memory_order_relaxed);
    return true;
  }
  void unlock_slow(std::uint32_t old);
  bool hand_off();
  void check_owner() const {
    const std::uint64_t owner = owner_.load(std::memory_order_relaxed);
    if (owner != detail::caller_id()) [[unlikely]] not_owner(owner);
  }
  [[noreturn]] void not_owner(std::uint64_t owner) const;

  std::atomic<std::uint32_t> state_{0};
  // caller_id() of the holder (of the last one while free; 0 before the first
  // lock). Only a new holder writes it, so unlock() stores nothing but the state;
  // used for misuse checks and messages.
  std::atomic<std::uint64_t> owner_{0};
  detail::SpinLock qlock_;  // guards waiters_ and the kWaiters/kHandoff bits
  detail::WaiterList waiters_;
};

}  // namespace spindle
