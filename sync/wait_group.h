// WaitGroup: wait for a counted set of tasks to finish (Go's sync.WaitGroup).
//
//   spindle::WaitGroup wg;
//   for (int i = 0; i < n; ++i) {
//     wg.add(1);
//     spindle::spawn([&] { work(); wg.done(); }).detach();
//   }
//   wg.wait();
//
// A counter that goes negative ends the program with a message. As in Go, a
// WaitGroup may be reused, but the add() calls of a new round must come after all
// wait() calls of the previous round have returned. Waits have cancellable forms
// taking a std::stop_token (false: stopped).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "spindle/fibers/spin_lock.h"
#include "spindle/sync/wait_list.h"

namespace spindle {

class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;
  // Dies if fibers or threads still wait on it.
  ~WaitGroup();

  // Adds `n` (may be negative) to the counter; reaching zero releases every
  // waiter. Never blocks. Dies if the counter goes below zero.
  void add(std::int64_t n);
  // add(-1).
  void done() { add(-1); }
  std::int64_t count() const { return count_.load(std::memory_order_acquire); }

  // Blocks the calling fiber (parked) or thread until the counter is zero.
  void wait() { (void)wait_impl(std::nullopt, {}); }
  // As wait(), giving up at `deadline`; false if it timed out.
  bool wait_until(Clock::time_point deadline) { return wait_impl(deadline, {}); }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) {
    return wait_impl(detail::deadline_after(d), {});
  }

  // Cancellable forms: as above, but a stop requested on `stop` (before or during
  // the wait) ends it. True if the counter reached zero; false if stopped (or
  // timed out). A counter already at zero returns true even if a stop was requested.
  bool wait(const std::stop_token& stop) { return wait_impl(std::nullopt, stop); }
  bool wait_until(Clock::time_point deadline, const std::stop_token& stop) { return wait_impl(deadline, stop); }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d, const std::stop_token& stop) {
    return wait_impl(detail::deadline_after(d), stop);
  }

 private:
  bool wait_impl(std::optional<Clock::time_point> deadline, const std::stop_token& stop);

  // acq_rel updates: the done() that reaches zero has seen (and publishes) every
  // earlier done(); waiters read it with acquire, so the tasks' writes are visible.
  std::atomic<std::int64_t> count_{0};
  detail::SpinLock lock_;
  detail::WaiterList waiters_;
};

}  // namespace spindle
