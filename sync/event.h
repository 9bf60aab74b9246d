// Event: a flag that fibers and threads wait for.
//
//   spindle::Event ready;                          // manual reset, initially clear
//   ... ready.set();                               // releases every waiter, stays set
//   ready.wait();                                  // returns at once while set
//
//   spindle::Event turn(spindle::Event::Mode::kAutoReset);
//   turn.set();                                    // releases exactly one waiter (or
//                                                  // the next one to wait) and clears
//
// Manual reset: set() releases all current waiters and stays set until reset().
// Auto reset: set() releases one waiter, or if none waits leaves the event set for
// the next wait(), which clears it; setting an already set event does nothing.
//
// Every wait has a cancellable form taking a std::stop_token (false: stopped).
#pragma once

#include <atomic>
#include <chrono>
#include <optional>

#include "spindle/fibers/spin_lock.h"
#include "spindle/sync/wait_list.h"

namespace spindle {

class Event {
 public:
  enum class Mode : unsigned char { kManualReset, kAutoReset };

  explicit Event(Mode mode = Mode::kManualReset, bool initially_set = false)
      : mode_(mode), set_(initially_set) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  // Dies if fibers or threads still wait on it.
  ~Event();

  // Never blocks (wakes waiters).
  void set();
  // Never blocks.
  void reset() { set_.store(false, std::memory_order_relaxed); }
  bool is_set() const { return set_.load(std::memory_order_acquire); }

  // Blocks the calling fiber (parked) or thread until the event is set (and, in
  // auto-reset mode, consumes the signal).
  void wait() { (void)wait_impl(std::nullopt, {}); }
  // As wait(), giving up at `deadline`; false if it timed out.
  bool wait_until(Clock::time_point deadline) { return wait_impl(deadline, {}); }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) {
    return wait_impl(detail::deadline_after(d), {});
  }

  // Cancellable forms: as above, but a stop requested on `stop` (before or during
  // the wait) ends it. True if the event was set (and, in auto-reset mode, the
  // signal consumed: a stopped wait never consumes it); false if stopped (or timed
  // out). An event already set returns true even if a stop was requested.
  bool wait(const std::stop_token& stop) { return wait_impl(std::nullopt, stop); }
  bool wait_until(Clock::time_point deadline, const std::stop_token& stop) { return wait_impl(deadline, stop); }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d, const std::stop_token& stop) {
    return wait_impl(detail::deadline_after(d), stop);
  }

 private:
  bool try_consume();
  bool wait_impl(std::optional<Clock::time_point> deadline, const std::stop_token& stop);

  const Mode mode_;
  // Set/consumed under lock_ when waiters may exist; read without it on fast paths.
  // A store of true (release) pairs with the acquire of a waiter's fast-path read.
  std::atomic<bool> set_;
  detail::SpinLock lock_;
  detail::WaiterList waiters_;
};

}  // namespace spindle
