// Poller: the seam through which a Scheduler's idle workers wait for I/O (Go's
// netpoll hooks in findrunnable). sched knows nothing of file descriptors; the io
// layer (io/) implements this interface and installs one per Scheduler
// (Scheduler::install_poller).
//
// How a Scheduler uses it (sched/worker_loop.cc, the lines marked "poller hook"):
//  - a worker that found no local or global work calls poll(non-blocking) before
//    it tries to steal, if has_waiters();
//  - the one worker that goes idle while no other worker is blocked in the poller
//    blocks in wait(deadline = its nearest timer) instead of on its futex;
//  - whoever would unpark that worker (a submission from outside, a new timer,
//    shutdown) calls interrupt().
// The poller readies fibers by waking them from the polling thread; Scheduler::
// submit then puts them on the polling worker's own queue.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "spindle/sched/executor.h"

namespace spindle {

class Poller {
 public:
  virtual ~Poller() = default;

  // Readies what is ready now, without blocking. Returns how many waits it ended.
  virtual std::size_t poll() = 0;
  // Blocks the calling thread until some I/O is ready (and readies it), until
  // `deadline` (none: no timeout), or until interrupt(). May return early.
  virtual std::size_t wait(std::optional<Clock::time_point> deadline) = 0;
  // Makes the current or the next wait() return soon. Any thread; a pending
  // interrupt is kept until a wait() consumes it.
  virtual void interrupt() = 0;
  // Whether any fiber waits for I/O here: if not, workers skip poll() and park on
  // their futex as usual. A racy hint; the caller re-checks through other means.
  virtual bool has_waiters() const = 0;
  // Appends a line per waiting fiber ("fiber #12 'conn' reads fd 7"), for the
  // Scheduler's shutdown warning.
  virtual void describe_waiters(std::string& out) const = 0;
};

}  // namespace spindle
