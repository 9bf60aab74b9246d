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
// has switched off its stack. notify() and a deadline race through one
// compare-exchange; exactly one of them ends the wait.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "spindle/sched/executor.h"

namespace spindle {

namespace detail {
class Fiber;
}

enum class WakeReason : std::uint8_t { kNotified, kTimedOut };

class Waiter {
 public:
  // Binds to the current fiber, or to the calling thread when not on a fiber.
  Waiter() noexcept;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Blocks until notify() or `deadline`. `publish()` makes the waiter visible to
  // notifiers (typically: releases the lock of the queue it was added to); it runs
  // once, on a fiber after the switch away, on a thread right away. If it returns
  // false the wait ends at once with kNotified (the condition already holds).
  // Blocks: the calling fiber (parked) or the calling thread.
  template <class Publish>
  WakeReason wait(Publish&& publish, std::optional<Clock::time_point> deadline = std::nullopt) {
    return wait_impl([](void* p) { return (*static_cast<std::remove_reference_t<Publish>*>(p))(); },
                     &publish, deadline);
  }

  // Ends the wait. False if it had already ended (notified, or its deadline won).
  // Any thread. After a true return the waiter may be gone at any moment.
  bool notify() noexcept;
  // Ends a wait that has no deadline and that nobody else can end any more (the
  // caller took the waiter out of the one queue that held it, under that queue's
  // lock): what notify() does, without its compare-exchange.
  void notify_sole() noexcept;

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
  WakeReason wait_impl(bool (*publish)(void*), void* arg, std::optional<Clock::time_point> deadline);
  WakeReason wait_on_thread(bool (*publish)(void*), void* arg, std::optional<Clock::time_point> deadline);

  detail::Fiber* fiber_;
  std::uint64_t seq_ = 0;  // the fiber's wait sequence for this wait
  // Thread waits: kWaiting / kNotified / kTimedOut; also the futex word.
  std::atomic<std::uint32_t> thread_state_{1};
};

}  // namespace spindle
