// this_fiber: what a fiber can ask about and do to itself. Every function also works
// on a plain thread, where it applies to the thread (yield and sleep block it).
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

// Parks this fiber (not its worker) until `deadline`; a plain thread sleeps. Never
// returns early.
void sleep_until(Clock::time_point deadline);

template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_until(detail::now() + std::chrono::ceil<Clock::duration>(d));
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
