#include "spindle/fibers/waiter.h"

#include "spindle/fibers/fiber.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/parker.h"

namespace spindle {
namespace {

constexpr std::uint32_t kWaiting = 1, kNotified = 2, kTimedOut = 3, kStopped = 4;

WakeReason reason_of(std::uint32_t thread_state) {
  if (thread_state == kTimedOut) return WakeReason::kTimedOut;
  if (thread_state == kStopped) return WakeReason::kStopped;
  return WakeReason::kNotified;
}

WakeReason reason_of(detail::Fiber::WaitState s) {
  if (s == detail::Fiber::kTimedOut) return WakeReason::kTimedOut;
  if (s == detail::Fiber::kStopped) return WakeReason::kStopped;
  return WakeReason::kNotified;
}

// Everything the park callback needs, read out before `publish` runs: once it has
// run, the fiber may be resumed elsewhere and this frame reused.
struct ParkRequest {
  bool (*publish)(void*);
  void* arg;
  detail::Fiber* fiber;
  std::uint64_t seq;
  std::optional<Clock::time_point> deadline;
  bool cancellable;
};

bool park_callback(void* p) {
  const ParkRequest req = *static_cast<ParkRequest*>(p);
  Executor* const executor = req.fiber->executor();  // read while the fiber is surely ours
  // The timer's reference is counted before publishing, while the fiber still
  // certainly exists (a counted block is never freed, only reused), but the timer
  // itself is set only after `publish` has returned: set before, it could fire on
  // another thread (an idle worker serves a busy one's timers; a ThreadPool
  // thread) and resume the fiber while `publish` still runs on its stack. Set
  // after, it may find the wait already over: a stale firing is ignored by its
  // sequence number.
  if (req.deadline) req.fiber->timer_armed();
  // A cancellable wait touches the control block once more after publishing (to
  // mark it published): hold it so it is not freed meanwhile. It may be reused by
  // then; mark_published() then finds a later sequence and does nothing.
  if (req.cancellable) req.fiber->hold();
  const bool published = req.publish(req.arg);
  if (req.deadline) executor->add_timer(req.fiber, req.seq, *req.deadline);
  // Not published: the condition already holds; end the wait ourselves and run
  // again at once, unless a timer or a stop won the race.
  bool ready_now = !published && req.fiber->end_wait(req.seq, detail::Fiber::kNotified);
  if (req.cancellable) {
    // A stop that ended the wait before this left the readying to us.
    if (req.fiber->mark_published(req.seq)) ready_now = true;
    req.fiber->unhold();
  }
  return !ready_now;
}

}  // namespace

Waiter::Waiter() noexcept : fiber_(detail::current_fiber()) {}

WakeReason Waiter::wait_impl(bool (*publish)(void*), void* arg, std::optional<Clock::time_point> deadline,
                             const std::stop_token& stop, bool own_stop) {
  if (fiber_ == nullptr) return wait_on_thread(publish, arg, deadline, stop);
  seq_ = fiber_->begin_wait(own_stop);
  const bool cancellable = own_stop || stop.stop_possible();
  // Registered for the wait's duration; its destructor (at return) waits for a
  // callback running on another thread, which may still touch this Waiter.
  std::optional<std::stop_callback<StopWake>> on_stop_request;
  if (stop.stop_possible()) on_stop_request.emplace(stop, StopWake{this});
  // The Dekker pair of Fiber::request_stop(): begin_wait's seq_cst store, then this
  // seq_cst load of the flag.
  if (own_stop && fiber_->stop_requested()) fiber_->stop_wait(seq_);
  if (cancellable && fiber_->wait_state() == detail::Fiber::kStopped) {
    // Stopped before parking: publish here, on our own stack (it releases what it
    // must); the caller withdraws the waiter as after a timeout.
    (void)publish(arg);
    return WakeReason::kStopped;
  }
  fiber_->wait_object = object;
  fiber_->wait_kind = kind;
  ParkRequest req{publish, arg, fiber_, seq_, deadline, cancellable};
  fiber_->park(&park_callback, &req);
  fiber_->wait_object = nullptr;
  fiber_->wait_kind = nullptr;
  return reason_of(fiber_->wait_state());
}

WakeReason Waiter::wait_on_thread(bool (*publish)(void*), void* arg, std::optional<Clock::time_point> deadline,
                                  const std::stop_token& stop) {
  // A thread has no stack to leave: the callback may end the wait at any time,
  // before publishing too; the loop below sees it.
  std::optional<std::stop_callback<StopWake>> on_stop_request;
  if (stop.stop_possible()) on_stop_request.emplace(stop, StopWake{this});
  if (!publish(arg)) {
    std::uint32_t expected = kWaiting;
    if (thread_state_.compare_exchange_strong(expected, kNotified, std::memory_order_acq_rel)) {
      return WakeReason::kNotified;
    }
    return reason_of(expected);
  }
  for (;;) {
    // Acquire: pairs with notify()'s acq_rel CAS and notify_sole()'s release store
    // to kNotified, so what the notifier wrote before notifying is visible here.
    const std::uint32_t s = thread_state_.load(std::memory_order_acquire);
    if (s != kWaiting) return reason_of(s);
    if (deadline && Clock::now() >= *deadline) {
      std::uint32_t expected = kWaiting;
      if (thread_state_.compare_exchange_strong(expected, kTimedOut, std::memory_order_acq_rel)) {
        return WakeReason::kTimedOut;
      }
      return reason_of(expected);
    }
    detail::futex_wait(&thread_state_, kWaiting, deadline);
  }
}

void Waiter::on_stop() noexcept {
  if (fiber_ != nullptr) {
    fiber_->stop_wait(seq_);
    return;
  }
  std::uint32_t expected = kWaiting;
  if (thread_state_.compare_exchange_strong(expected, kStopped, std::memory_order_acq_rel)) {
    // The waiter cannot return before this callback does (std::stop_callback's
    // destructor waits for it), so the address is still ours.
    detail::futex_wake(&thread_state_, 1);
  }
}

void Waiter::notify_or_release() noexcept {
  if (notify()) return;  // after a true notify() the waiter may be gone: no touch
  released_.store(true, std::memory_order_release);  // pairs with wait_released()
}

void Waiter::wait_released() noexcept {
  for (int spins = 0; !released_.load(std::memory_order_acquire); ++spins) {
    if (spins < 64) continue;
    if (fiber_ != nullptr) {
      fiber_->yield();
    } else {
      detail::yield_thread();
    }
  }
}

bool Waiter::notify() noexcept {
  if (fiber_ != nullptr) {
    detail::Fiber* f = fiber_;  // read before the CAS: afterwards *this may vanish
    if (!f->end_wait(seq_, detail::Fiber::kNotified)) return false;
    f->wake();
    return true;
  }
  std::uint32_t expected = kWaiting;
  if (!thread_state_.compare_exchange_strong(expected, kNotified, std::memory_order_acq_rel)) return false;
  // The waiter may return (and its stack frame go) as soon as it sees kNotified; a
  // futex wake on a stale address is harmless (waiters tolerate spurious wakeups).
  detail::futex_wake(&thread_state_, 1);
  return true;
}

void Waiter::notify_sole() noexcept {
  if (fiber_ != nullptr) {
    detail::Fiber* f = fiber_;  // read first: once ended, *this may vanish
    f->end_wait_sole(seq_);
    f->wake();
    return;
  }
  thread_state_.store(kNotified, std::memory_order_release);
  detail::futex_wake(&thread_state_, 1);  // on a stale address at worst: harmless
}

}  // namespace spindle
