#include "spindle/fibers/waiter.h"

#include "spindle/fibers/fiber.h"
#include "spindle/sched/parker.h"

namespace spindle {
namespace {

constexpr std::uint32_t kWaiting = 1, kNotified = 2, kTimedOut = 3;

// Everything the park callback needs, read out before `publish` runs: once it has
// run, the fiber may be resumed elsewhere and this frame reused.
struct ParkRequest {
  bool (*publish)(void*);
  void* arg;
  detail::Fiber* fiber;
  std::uint64_t seq;
  std::optional<Clock::time_point> deadline;
};

bool park_callback(void* p) {
  const ParkRequest req = *static_cast<ParkRequest*>(p);
  if (req.deadline) {
    // Armed before publishing, so the timer's reference is counted while the
    // fiber still certainly exists; a stale firing is ignored by its sequence.
    req.fiber->timer_armed();
    req.fiber->executor()->add_timer(req.fiber, req.seq, *req.deadline);
  }
  if (!req.publish(req.arg)) {
    // The condition already holds: end the wait ourselves and run again at once,
    // unless a timer won the race (it then readies the fiber itself).
    return !req.fiber->end_wait(req.seq, detail::Fiber::kNotified);
  }
  return true;
}

}  // namespace

Waiter::Waiter() noexcept : fiber_(detail::current_fiber()) {}

WakeReason Waiter::wait_impl(bool (*publish)(void*), void* arg, std::optional<Clock::time_point> deadline) {
  if (fiber_ == nullptr) return wait_on_thread(publish, arg, deadline);
  seq_ = fiber_->begin_wait();
  fiber_->wait_object = object;
  fiber_->wait_kind = kind;
  ParkRequest req{publish, arg, fiber_, seq_, deadline};
  fiber_->park(&park_callback, &req);
  fiber_->wait_object = nullptr;
  fiber_->wait_kind = nullptr;
  return fiber_->wait_state() == detail::Fiber::kTimedOut ? WakeReason::kTimedOut : WakeReason::kNotified;
}

WakeReason Waiter::wait_on_thread(bool (*publish)(void*), void* arg, std::optional<Clock::time_point> deadline) {
  if (!publish(arg)) {
    std::uint32_t expected = kWaiting;
    thread_state_.compare_exchange_strong(expected, kNotified, std::memory_order_acq_rel);
    return WakeReason::kNotified;
  }
  for (;;) {
    // Acquire: pairs with notify()'s acq_rel CAS and notify_sole()'s release store
    // to kNotified, so what the notifier wrote before notifying is visible here.
    const std::uint32_t s = thread_state_.load(std::memory_order_acquire);
    if (s != kWaiting) return WakeReason::kNotified;
    if (deadline && Clock::now() >= *deadline) {
      std::uint32_t expected = kWaiting;
      if (thread_state_.compare_exchange_strong(expected, kTimedOut, std::memory_order_acq_rel)) {
        return WakeReason::kTimedOut;
      }
      return WakeReason::kNotified;
    }
    detail::futex_wait(&thread_state_, kWaiting, deadline);
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
