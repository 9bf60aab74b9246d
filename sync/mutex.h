// Mutex: a Lockable for fibers and plain threads alike (std::lock_guard,
// std::unique_lock, std::scoped_lock all work).
//
//   spindle::Mutex m;
//   { std::lock_guard<spindle::Mutex> g(m); ++shared; }
//
// lock() is one atomic exchange while the mutex is free; unlock() is a plain
// release store followed by one read of process-wide memory (sync/parking_lot.h),
// with no atomic read-modify-write at all unless someone is parked. Under
// contention a locker spins briefly, then parks (a fiber) or blocks (a thread) in
// a queue kept in the parking lot under the mutex's address, in order of arrival.
//
// Fairness policy (as Go's sync.Mutex): normally an unlock releases the lock and
// wakes the oldest waiter, which then competes with newcomers (barging keeps
// throughput high). A waiter that has waited longer than kStarvationThreshold
// (1 ms) in all is starving: it turns on hand-off mode, and from then on every
// unlock passes the mutex directly to the oldest waiter, in arrival order, without
// ever freeing it, so bargers queue behind. Hand-off mode ends when the queue is
// empty or a waiter got the mutex within the threshold. A waiter notices that it
// starves by itself (its first park has the threshold as its deadline), not only
// when an unlock wakes it, so its wait is bounded even if every wake goes to
// others: about the threshold plus the holders ahead of it in the queue (each
// holding for as long as it chooses) plus the latency of waking it. Nobody starves.
//
// unlock() never touches the mutex after the release store unless it found a waiter
// parked on it, so the mutex may be destroyed by whoever acquires it next (the last
// user of a reference-counted object, say).
//
// Misuse ends the program with a message naming the mutex and the caller:
// unlocking a mutex the caller does not hold, and destroying one that is locked or
// waited on. Recursive locking deadlocks (as with std::mutex).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "spindle/fibers/waiter.h"
#include "spindle/sync/misuse.h"
#include "spindle/sync/parking_lot.h"

namespace spindle {

class Mutex {
 public:
  // How long a waiter waits before it is starving and unlocks hand it the mutex.
  static constexpr std::chrono::microseconds kStarvationThreshold{1000};

  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  // Dies if the mutex is locked or has waiters.
  ~Mutex();

  // Blocks the calling fiber (parked) or thread until the mutex is acquired.
  void lock() {
    // Free is enough, waiters or not (barging). An exchange needs no expected
    // value, so no load goes before it (which costs as much again on x86).
    if (locked_.exchange(1, std::memory_order_acquire) != 0) [[unlikely]] {
      lock_slow();
      return;
    }
    owner_.store(detail::caller_id(), std::memory_order_relaxed);
  }

  // Never blocks. May succeed while others wait (it does not queue).
  bool try_lock() {
    if (locked_.exchange(1, std::memory_order_acquire) != 0) return false;
    owner_.store(detail::caller_id(), std::memory_order_relaxed);
    return true;
  }

  // Never blocks. Dies unless the caller (same fiber, or same plain thread) holds
  // the mutex.
  void unlock() {
    check_owner();
    // Read while we hold the mutex (it is certainly alive): a starving waiter
    // wants the lock handed over, not released.
    if (handoff_.load(std::memory_order_relaxed)) [[unlikely]] {
      unlock_handing_off();
      return;
    }
    // Release pairs with the acquire of the next lock()/try_lock(). From here on
    // the mutex may be gone: only the parking lot is read (see parking_lot.h for
    // the barrier pairing with a parker's heavy_barrier()).
    locked_.store(0, std::memory_order_release);
    detail::ParkingLot::light_barrier();
    if (detail::ParkingLot::bucket(this).parked.load(std::memory_order_relaxed) != 0) [[unlikely]] {
      wake_one(this);
    }
  }

  // For diagnostics and tests; racy by nature.
  bool is_locked() const { return locked_.load(std::memory_order_relaxed) != 0; }

 private:
  void lock_slow();
  bool spin_acquire(std::uint64_t me);
  bool try_acquire(std::uint64_t me) {
    if (locked_.exchange(1, std::memory_order_acquire) != 0) return false;
    owner_.store(me, std::memory_order_relaxed);
    return true;
  }
  // After the release: wakes the oldest waiter parked on `address`, if any. Static
  // on purpose: it dereferences the mutex only once it found a waiter on it.
  static void wake_one(const Mutex* address);
  void unlock_handing_off();
  void check_owner() const {
    const std::uint64_t owner = owner_.load(std::memory_order_relaxed);
    if (owner != detail::caller_id() || !is_locked()) [[unlikely]] not_owner(owner);
  }
  [[noreturn]] void not_owner(std::uint64_t owner) const;

  // 1 while held. Stays 1 across a hand-off (ownership moves without the lock
  // being free).
  std::atomic<std::uint8_t> locked_{0};
  // Hand-off mode: set by a starving waiter, cleared by hand-offs; both under the
  // bucket's lock. Read by unlock() (relaxed) only while it holds the mutex: a
  // stale false costs one normal release, after which the woken starving waiter
  // sets it again.
  std::atomic<bool> handoff_{false};
  // caller_id() of the holder (of the last one while free; 0 before the first
  // lock). Only a new holder writes it, so unlock() stores nothing but the lock
  // byte; used for misuse checks and messages.
  std::atomic<std::uint64_t> owner_{0};
};

}  // namespace spindle
