// Waiter: the one waiting mechanism under every blocking call in spindle — the
// park/wake seam between fibers and sync (Go's gopark/goready).
//
// A Waiter lives on the waiting party's stack for one wait. It binds to the
// calling fiber if there is one (the wait parks the fiber, never the worker) and
// otherwise to the calling thread (the wait blocks the thread on a futex).
//
//   // under the primitive's lock: enqueue, then wait; `publish` releases the lock
//   Waiter w;
//   queue.push_back(&w);
//   w.wait([&] { lock.unlock(); return true; });
//
// `publish` runs on the worker, off the waiting fiber's stack, and the moment it
// makes the waiter visible the fiber may be resumed on another worker. So the
// release must be its last touch of anything on the fiber's stack: with a
// std::unique_lock `lk` on that stack write `lk.release()->unlock()`, never
// `lk.unlock()` (which clears its flag after unlocking).
//
// The protocol that makes lost wakeups impossible: a notifier can only find a
// Waiter after `publish` ran, and for a fiber `publish` runs only after the fiber
// has switched off its stack. notify(), a deadline and a stop request race through
// one compare-exchange (acq_rel) on the wait's state word; exactly one of them ends
// the wait, and the others' compare-exchanges fail.
//
// Cancellation: a wait given a std::stop_token ends with kStopped when a stop is
// requested on it (a std::stop_callback registered for the wait's duration ends
// it, from the requesting thread), and a wait with `own_stop` ends on the calling
// fiber's own JoinHandle::request_stop(). A stop that comes before the wait is
// published does not ready the fiber itself (it may still be on its stack): the
// park callback does, after publishing (Fiber::mark_published). Primitives treat
// kStopped like kTimedOut: the waiter withdraws from their queue under its lock,
// and a notifier whose notify() failed keeps what it meant to hand over.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <stop_token>

#include "spindle/sched/executor.h"

namespace spindle {

namespace detail {
class Fiber;
}

// Why a wait ended: notify() (or the condition already held), its deadline, or a
// stop request (its stop_token, or with own_stop the fiber's request_stop()).
enum class WakeReason : std::uint8_t { kNotified, kTimedOut, kStopped };

class Waiter {
 public:
  // Binds to the current fiber, or to the calling thread when not on a fiber.
  Waiter() noexcept;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Blocks until notify(), `deadline`, or a stop request on `stop` (or, with
  // `own_stop` on a fiber, on the fiber itself). `publish()` makes the waiter
  // visible to notifiers (typically: releases the lock of the queue it was added
  // to); it runs once, on a fiber after the switch away (or, if a stop came
  // first, on the fiber's stack without parking), on a thread right away. If it
  // returns false the wait ends at once with kNotified (the condition already
  // holds), unless a deadline or stop won the race first.
  // Blocks: the calling fiber (parked) or the calling thread. While a stop
  // callback is running on another thread, returning waits for it to finish
  // (std::stop_callback's destructor): a few instructions.
  template <class Publish>
  WakeReason wait(Publish&& publish, std::optional<Clock::time_point> deadline = std::nullopt,
                  const std::stop_token& stop = {}, bool own_stop = false) {
    return wait_impl([](void* p) { return (*static_cast<std::remove_reference_t<Publish>*>(p))(); },
                     &publish, deadline, stop, own_stop);
  }

  // Ends the wait. False if it had already ended (notified, or its deadline won).
  // Any thread. After a true return the waiter may be gone at any moment.
  bool notify() noexcept;
  // Ends a wait that has no deadline, no stop token and no own_stop, and that
  // nobody else can end any more (the caller took the waiter out of the one queue
  // that held it, under that queue's lock): what notify() does, without its
  // compare-exchange.
  void notify_sole() noexcept;
  // For a notifier that reaches the waiter outside any lock the waiter withdraws
  // under (JoinHandle::join's joiner): notify(); if that fails (the wait was
  // stopped), marks the waiter released, as its last touch. A stopped waiter that
  // cannot withdraw from such a notifier calls wait_released() before returning.
  void notify_or_release() noexcept;
  // Blocks (spinning, yielding) until notify_or_release() is done with this waiter.
  // Only after a stopped wait whose notifier was already on its way: a short window.
  void wait_released() noexcept;

  bool on_fiber() const { return fiber_ != nullptr; }
  detail::Fiber* fiber() const { return fiber_; }

  // Intrusive links for the one queue that holds this waiter; owned by that queue
  // and guarded by its lock.
  Waiter* next = nullptr;
  Waiter* prev = nullptr;
  bool queued = false;
  // For the primitive's own use (a channel's item, a semaphore's request).
  void* data = nullptr;
  // What is being waited on, for deadlock reports and debuggers.
  const void* object = nullptr;
  const char* kind = nullptr;

 private:
  WakeReason wait_impl(bool (*publish)(void*), void* arg, std::optional<Clock::time_point> deadline,
                       const std::stop_token& stop, bool own_stop);
  WakeReason wait_on_thread(bool (*publish)(void*), void* arg, std::optional<Clock::time_point> deadline,
                            const std::stop_token& stop);
  // Run by the stop callback: ends the wait as stopped. Any thread.
  void on_stop() noexcept;
  struct StopWake {
    Waiter* self;
    void operator()() const noexcept { self->on_stop(); }
  };

  detail::Fiber* fiber_;
  std::uint64_t seq_ = 0;  // the fiber's wait sequence for this wait
  // Thread waits: kWaiting / kNotified / kTimedOut / kStopped; also the futex word.
  std::atomic<std::uint32_t> thread_state_{1};
  // Set by notify_or_release() when its notify() failed (release; acquired by
  // wait_released()).
  std::atomic<bool> released_{false};
};

}  // namespace spindle
