// Semaphore: a counting semaphore for fibers and threads.
//
//   spindle::Semaphore slots(4);
//   slots.acquire();  ... slots.release();
//
// release() hands permits straight to queued waiters in FIFO order before adding
// what is left to the count, so a stream of try_acquire() callers cannot starve a
// waiter. Waits have cancellable forms taking a std::stop_token (false: stopped).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "spindle/fibers/spin_lock.h"
#include "spindle/sync/wait_list.h"

namespace spindle {

class Semaphore {
 public:
  explicit Semaphore(std::int64_t initial = 0) : count_(initial) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  // Dies if fibers or threads still wait on it.
  ~Semaphore();

  // Blocks the calling fiber (parked) or thread until a permit is available.
  void acquire() {
    if (!try_acquire()) (void)acquire_slow(std::nullopt, {});
  }
  // Never blocks.
  bool try_acquire() {
    std::int64_t c = count_.load(std::memory_order_relaxed);
    while (c > 0) {
      if (count_.compare_exchange_weak(c, c - 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  // As acquire(), giving up at `deadline`; false if it timed out.
  bool try_acquire_until(Clock::time_point deadline) { return try_acquire() || acquire_slow(deadline, {}); }
  template <class Rep, class Period>
  bool try_acquire_for(std::chrono::duration<Rep, Period> d) {
    return try_acquire() || acquire_slow(detail::deadline_after(d), {});
  }

  // Cancellable forms: as above, but a stop requested on `stop` (before or during
  // the wait) ends it. True if a permit was acquired; false if stopped (or timed
  // out), and then no permit was taken. A permit available at once is taken even
  // if a stop was requested.
  bool acquire(const std::stop_token& stop) { return try_acquire() || acquire_slow(std::nullopt, stop); }
  bool try_acquire_until(Clock::time_point deadline, const std::stop_token& stop) {
    return try_acquire() || acquire_slow(deadline, stop);
  }
  template <class Rep, class Period>
  bool try_acquire_for(std::chrono::duration<Rep, Period> d, const std::stop_token& stop) {
    return try_acquire() || acquire_slow(detail::deadline_after(d), stop);
  }

  // Adds `n` permits (n >= 0). Never blocks.
  void release(std::int64_t n = 1);

  // Available permits; racy.
  std::int64_t available() const { return count_.load(std::memory_order_relaxed); }

 private:
  bool acquire_slow(std::optional<Clock::time_point> deadline, const std::stop_token& stop);

  // Decremented by compare-exchange anywhere; incremented only under lock_, and only
  // when no waiter is queued. Release/acquire pair on it.
  std::atomic<std::int64_t> count_;
  detail::SpinLock lock_;
  detail::WaiterList waiters_;
};

}  // namespace spindle
