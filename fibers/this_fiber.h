// this_fiber: what a fiber can ask about and do to itself. Every function also works
// on a plain thread, where it applies to the thread (yield and sleep block it).
//
// Cancellation: sleep_for/sleep_until end early when the fiber is asked to stop;
// the blocking calls of sync/ and JoinHandle::join take a std::stop_token (pass
// this_fiber::stop_token() to make them honour the fiber's own stop).
#pragma once

#include <chrono>
#include <cstdint>
#include <stop_token>
#include <string_view>

#include "spindle/fibers/fiber.h"
#include "spindle/sched/executor.h"

namespace spindle::detail {
void yield_thread();  // std::this_thread::yield(), kept out of this header
// The clock of the calling fiber's executor (simulated under testing/simulation.h),
// else of the executor whose thread this is, else the steady clock. Sync
// primitives compute their deadlines with it.
Clock::time_point now();
}  // namespace spindle::detail

namespace spindle::this_fiber {

// Lets other queued fibers run; this fiber goes behind them. On a plain thread:
// std::this_thread::yield(). Inline: see Fiber::yield.
inline void yield() {
  if (detail::Fiber* f = detail::current_fiber()) {
    f->yield();
  } else {
    detail::yield_thread();
  }
}

// Parks this fiber (not its worker) until `deadline`, or until a stop is requested
// of this fiber (JoinHandle::request_stop(), or a Scope stopping its children):
// true if the deadline was reached, false if a stop ended the sleep (at once if the
// stop came before the call). So a server's graceful shutdown need not wait out
// its sleepers. On a plain thread: sleeps the thread until `deadline`; always true
// (a thread has no stop of its own; use the stop_token form).
bool sleep_until(Clock::time_point deadline);
// As above, returning false also when `stop` is requested (on a plain thread too,
// where it blocks the thread).
bool sleep_until(Clock::time_point deadline, const std::stop_token& stop);

template <class Rep, class Period>
bool sleep_for(std::chrono::duration<Rep, Period> d) {
  return sleep_until(detail::now() + std::chrono::ceil<Clock::duration>(d));
}
template <class Rep, class Period>
bool sleep_for(std::chrono::duration<Rep, Period> d, const std::stop_token& stop) {
  return sleep_until(detail::now() + std::chrono::ceil<Clock::duration>(d), stop);
}

// The fiber's id (unique for the life of the process), or 0 on a plain thread.
std::uint64_t id();
// The name given at spawn, or empty.
std::string_view name();
// True on a fiber, false on a plain thread.
bool on_fiber();

// Reports JoinHandle::request_stop() (or a Scope stopping its children). On a plain
// thread: a token that never stops.
std::stop_token stop_token();
bool stop_requested();

}  // namespace spindle::this_fiber
