#include "spindle/sync/mutex.h"

#include <mutex>

#include "spindle/fibers/this_fiber.h"
#include "spindle/sync/fault_point.h"

namespace spindle {
namespace {

constexpr int kSpinTries = 64;

inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Per-wait bookkeeping, reached through Waiter::data.
struct WaitInfo {
  Clock::time_point since;  // first time this locker queued
  bool granted = false;     // set by a hand-off unlock before notify(): we own the lock
};

}  // namespace

Mutex::~Mutex() {
  const std::uint32_t s = state_.load(std::memory_order_acquire);
  if (s & kLocked) {
    detail::sync_misuse("Mutex", this, "destroyed while locked", owner_.load(std::memory_order_relaxed));
  }
  if (s & kWaiters) detail::sync_misuse("Mutex", this, "destroyed while fibers or threads wait to lock it");
}

void Mutex::not_owner(std::uint64_t owner) const {
  if ((state_.load(std::memory_order_relaxed) & kLocked) == 0) {
    detail::sync_misuse("Mutex", this, "unlock() of a mutex that is not locked");
  }
  detail::sync_misuse("Mutex", this, "unlock() by a caller that does not hold the mutex", owner);
}

bool Mutex::spin_acquire(std::uint64_t me) {
  for (int i = 0; i < kSpinTries; ++i) {
    // Read-only until it looks free, so spinners do not steal the line from the
    // holder with writes.
    if ((state_.load(std::memory_order_relaxed) & kLocked) == 0 && try_acquire(me)) return true;
    cpu_relax();
  }
  return false;
}

void Mutex::lock_slow() {
  SPINDLE_FAULT_POINT();
  const std::uint64_t me = detail::caller_id();
  if (spin_acquire(me)) return;
  WaitInfo info{detail::now()};
  bool woken_before = false;
  for (;;) {
    std::unique_lock<detail::SpinLock> lk(qlock_);
    // A waiter passed over for too long turns on hand-off; it queues at the front
    // (as does any waiter that was woken and lost the race: it keeps its place).
    const bool starving = woken_before && detail::now() - info.since > kStarvationThreshold;
    // Announce the waiter, atomically with seeing the mutex held: the holder's
    // unlock then finds kWaiters. If it is free instead, take it.
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    bool announced = false;
    while (!announced) {
      if ((s & kLocked) == 0) {
        if (try_acquire(me)) return;
        s = state_.load(std::memory_order_relaxed);
        continue;
      }
      const std::uint32_t want = s | kWaiters | (starving ? kHandoff : 0);
      announced = state_.compare_exchange_weak(s, want, std::memory_order_relaxed, std::memory_order_relaxed);
    }
    Waiter w;
    w.object = this;
    w.kind = "mutex";
    w.data = &info;
    SPINDLE_FAULT_POINT();
    detail::park_in(lk, waiters_, w, std::nullopt, /*front=*/woken_before);
    // The hand-off's writes (info.granted, the previous holder's critical section)
    // happen before notify(), which happens before this fiber or thread resumes.
    if (info.granted) {
      owner_.store(me, std::memory_order_relaxed);
      return;
    }
    woken_before = true;
    state_.fetch_and(~kWoken, std::memory_order_relaxed);  // let the next unlock wake another
    if (spin_acquire(me)) return;
  }
}

void Mutex::unlock_slow(std::uint32_t old) {
  SPINDLE_FAULT_POINT();
  if ((old & kLocked) == 0) {
    // Not locked: a second unlock by the last holder. The add above broke the
    // state, but the program ends here anyway.
    detail::sync_misuse("Mutex", this, "unlock() of a mutex that is not locked");
  }
  if ((old & kHandoff) != 0) {
    // Hand-off mode: take the lock back at once (a newcomer may have won it in the
    // moment it was free; then its unlock hands off instead) and pass it on.
    if (!try_acquire(owner_.load(std::memory_order_relaxed))) return;
    if (hand_off()) return;
    // The queue emptied meanwhile: release for good.
    old = state_.fetch_sub(kLocked, std::memory_order_release);
    if ((old & (kWaiters | kWoken)) != kWaiters) return;
  }
  // Released with a waiter queued and none woken: claim the kWoken token (another
  // unlock may race us for it) and wake the oldest waiter to compete.
  if ((state_.fetch_or(kWoken, std::memory_order_relaxed) & kWoken) != 0) return;
  Waiter* w;
  {
    std::lock_guard<detail::SpinLock> g(qlock_);
    w = waiters_.pop_front();
    if (waiters_.empty()) state_.fetch_and(~(kWaiters | kHandoff), std::memory_order_relaxed);
    if (w == nullptr) state_.fetch_and(~kWoken, std::memory_order_relaxed);
  }
  // Mutex waits have no deadline, so this notify() cannot fail and may run outside
  // the queue lock.
  if (w != nullptr) w->notify();
}

bool Mutex::hand_off() {
  Waiter* w;
  {
    std::lock_guard<detail::SpinLock> g(qlock_);
    w = waiters_.pop_front();
    if (w == nullptr) {
      state_.fetch_and(~(kWaiters | kHandoff), std::memory_order_relaxed);
      return false;
    }
    auto* info = static_cast<WaitInfo*>(w->data);
    info->granted = true;
    // Leave hand-off mode once nobody is left or this waiter did not starve.
    if (waiters_.empty()) {
      state_.fetch_and(~(kWaiters | kHandoff), std::memory_order_relaxed);
    } else if (detail::now() - info->since < kStarvationThreshold) {
      state_.fetch_and(~kHandoff, std::memory_order_relaxed);
    }
  }
  // kLocked stays set: the lock passes to `w` without being free again.
  w->notify();
  return true;
}

}  // namespace spindle
