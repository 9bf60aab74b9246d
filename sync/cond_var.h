// CondVar: a condition variable for fibers and threads that works with any
// BasicLockable (like std::condition_variable_any): spindle::Mutex, std::mutex,
// std::unique_lock<...>, detail::SpinLock...
//
//   std::unique_lock<spindle::Mutex> lk(m);
//   cv.wait(lk, [&] { return ready; });
//
// Waits may wake spuriously; the predicate forms loop. As with
// std::condition_variable_any, the predicate forms have cancellable overloads
// taking a std::stop_token: they return pred(), so false means a stop was requested
// (or the deadline passed) with pred() still false.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <optional>
#include <stop_token>

#include "spindle/fibers/spin_lock.h"
#include "spindle/sync/wait_list.h"

namespace spindle {

class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;
  // Dies if fibers or threads still wait on it.
  ~CondVar();

  // Unlocks `lock`, blocks the calling fiber (parked) or thread until notified
  // (or spuriously), and locks `lock` again before returning (which may block too).
  template <class Lock>
  void wait(Lock& lock) {
    (void)wait_impl(lock, std::nullopt, {});
  }
  template <class Lock, class Pred>
  void wait(Lock& lock, Pred pred) {
    while (!pred()) wait(lock);
  }

  // As wait(), giving up at `deadline`.
  template <class Lock, class C, class D>
  std::cv_status wait_until(Lock& lock, std::chrono::time_point<C, D> deadline) {
    return wait_impl(lock, to_steady(deadline), {}) ? std::cv_status::no_timeout : std::cv_status::timeout;
  }
  // Returns pred() (false only when the deadline passed with pred() still false).
  template <class Lock, class C, class D, class Pred>
  bool wait_until(Lock& lock, std::chrono::time_point<C, D> deadline, Pred pred) {
    const Clock::time_point d = to_steady(deadline);
    while (!pred()) {
      if (!wait_impl(lock, d, {})) return pred();
    }
    return true;
  }
  template <class Lock, class Rep, class Period>
  std::cv_status wait_for(Lock& lock, std::chrono::duration<Rep, Period> d) {
    return wait_until(lock, detail::deadline_after(d));
  }
  template <class Lock, class Rep, class Period, class Pred>
  bool wait_for(Lock& lock, std::chrono::duration<Rep, Period> d, Pred pred) {
    return wait_until(lock, detail::deadline_after(d), std::move(pred));
  }

  // Cancellable waits (std::condition_variable_any's interruptible waits): wait
  // until pred() holds or a stop is requested on `stop` (before or during the
  // wait); return pred(), with `lock` held again. A stop ends a wait at once,
  // like a notify; pred() is checked first, so a true predicate wins.
  template <class Lock, class Pred>
  bool wait(Lock& lock, std::stop_token stop, Pred pred) {
    while (!stop.stop_requested()) {
      if (pred()) return true;
      (void)wait_impl(lock, std::nullopt, stop);
    }
    return pred();
  }
  // As above, also giving up at `deadline`.
  template <class Lock, class C, class D, class Pred>
  bool wait_until(Lock& lock, std::stop_token stop, std::chrono::time_point<C, D> deadline, Pred pred) {
    const Clock::time_point d = to_steady(deadline);
    while (!stop.stop_requested()) {
      if (pred()) return true;
      if (!wait_impl(lock, d, stop) && !stop.stop_requested()) return pred();  // timed out
    }
    return pred();
  }
  template <class Lock, class Rep, class Period, class Pred>
  bool wait_for(Lock& lock, std::stop_token stop, std::chrono::duration<Rep, Period> d, Pred pred) {
    return wait_until(lock, std::move(stop), detail::deadline_after(d), std::move(pred));
  }

  // Wake one / all current waiters. Never block.
  void notify_one();
  void notify_all();

 private:
  template <class C, class D>
  static Clock::time_point to_steady(std::chrono::time_point<C, D> t) {
    if constexpr (std::is_same_v<C, Clock>) {
      return std::chrono::time_point_cast<Clock::duration>(t);
    } else {
      return detail::now() + std::chrono::ceil<Clock::duration>(t - C::now());
    }
  }

  // Returns false on timeout or stop.
  template <class Lock>
  bool wait_impl(Lock& lock, std::optional<Clock::time_point> deadline, const std::stop_token& stop) {
    const std::uint64_t epoch = begin_wait();
    lock.unlock();
    const bool notified = park(epoch, deadline, stop);
    lock.lock();
    return notified;
  }
  std::uint64_t begin_wait();
  bool park(std::uint64_t epoch, std::optional<Clock::time_point> deadline, const std::stop_token& stop);

  detail::SpinLock qlock_;  // guards all below
  // Bumped by every notify. A waiter reads it while still holding the user's lock
  // and re-checks it before enqueueing: a notify that ran in the gap between the
  // user's unlock and our enqueue changed it, and the waiter returns at once
  // instead of missing that notify (a permitted spurious wakeup for the others).
  std::uint64_t epoch_ = 0;
  detail::WaiterList waiters_;
};

}  // namespace spindle
