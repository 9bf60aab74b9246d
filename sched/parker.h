// Parker: lets one thread sleep until another unparks it, with an optional
// deadline. A permit model (like Go's notes and Java's LockSupport): unpark before
// park makes the next park return at once, so no wakeup is lost.
//
// Memory order: unpark's release exchange pairs with park's acquire exchange, so
// whatever the unparker wrote before unpark() is visible after park() returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "spindle/sched/executor.h"

namespace spindle::detail {

class Parker {
 public:
  // Returns when unparked (consuming the permit) or at `deadline`, whichever comes
  // first. May return early (spurious wakeups are allowed; callers re-check).
  void park(std::optional<Clock::time_point> deadline = std::nullopt);
  // Gives the permit; wakes the parked thread if it sleeps.
  void unpark();
  // Whether a permit is waiting (the owner, before sleeping somewhere else).
  bool permit_pending() const { return permit_.load(std::memory_order_relaxed) != 0; }
  // Drops a pending permit (the owner, after sleeping somewhere else).
  void consume() { permit_.exchange(0, std::memory_order_acquire); }

 private:
  // 0: no permit, 1: permit. The futex word.
  std::atomic<std::uint32_t> permit_{0};
};

// Wait on / wake by address: the one seam for blocking a thread on a 32-bit word,
// also used by plain-thread waits in fibers/. One file per OS: futex(2) on Linux
// (sched/futex_linux.cc), WaitOnAddress / WakeByAddress* on Windows
// (sched/futex_win32.cc).
//
// futex_wait blocks while *word == expected, until a futex_wake on `word` or
// `deadline`; it may return early (spuriously), so callers re-check their
// condition. The comparison is made atomically with going to sleep, so a wake
// that follows a change of *word is never lost. Neither call orders memory:
// callers pair their own acquire loads with the waker's release stores.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::optional<Clock::time_point> deadline);
void futex_wake(std::atomic<std::uint32_t>* word, int count);

}  // namespace spindle::detail
