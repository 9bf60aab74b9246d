// PollDesc: the runtime's record of one file descriptor (Go's pollDesc). It holds
// the fd's readiness and at most one waiting reader and one waiting writer, the
// poller it is registered with (edge-triggered, once, at the first wait on a
// Scheduler), and the count of operations in flight, so that close() from another
// fiber ends those operations before the fd number is released (Go's fdMutex).
//
// Descriptors live in a process-wide table that never frees memory: an event the
// kernel reported for an fd that has since been closed (and whose number, and
// even whose descriptor, has been reused) may still be read out of a poller's
// event array. Each registration carries the descriptor's index and `seq`; `seq`
// is bumped when the fd is released, so such a stale event is recognised and
// dropped and never wakes the new owner's fiber.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <system_error>

#include "spindle/fibers/spin_lock.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sched/executor.h"

namespace spindle::detail {

class IoPoller;

enum class IoMode : std::uint8_t { kRead, kWrite };

// One blocked call, on the waiting fiber's stack. The waker writes `reason`
// before notifying (the notify's release pairs with the wake's acquire).
struct IoWait {
  enum Reason : std::uint8_t { kReady, kClosed };
  Waiter waiter;
  Reason reason = kReady;
  IoMode mode = IoMode::kRead;
};

struct PollDesc {
  struct Slot {
    bool ready = false;        // an edge arrived with no waiter: the next wait returns at once
    IoWait* waiter = nullptr;  // the parked fiber, if any
  };

  SpinLock lock;  // guards everything below but `index` and `closing`
  const std::uint32_t index;
  std::uint32_t seq = 0;  // changes when the fd is released; see the header comment
  int fd = -1;
  IoPoller* poller = nullptr;  // registered with, or null
  bool armed = false;          // the registration with `poller` is live (see desc_ready)
  // Sticky until the fd is released: an event reported hang-up, an error or urgent
  // data. A short read does not clear these conditions, and they bring no further
  // edge, so a reader that skips its syscall after a short read must not wait on
  // them (desc_wait's after_drain).
  bool hangup = false;
  std::atomic<bool> closing{false};
  int refs = 0;            // the owner's reference plus operations in flight
  int thread_waiters = 0;  // plain threads blocked in poll(2) on fd
  Slot rd, wr;
  PollDesc* free_next = nullptr;  // guarded by the table's lock

  explicit PollDesc(std::uint32_t i) : index(i) {}
  Slot& slot(IoMode m) { return m == IoMode::kRead ? rd : wr; }
};

// Takes ownership of `fd` (non-blocking, close-on-exec): a descriptor with one
// reference (the owner's) and the sequence number the owner must present.
PollDesc* desc_open(int fd);
// The descriptor at `index` (it exists for the life of the process), or null.
PollDesc* desc_at(std::uint32_t index);
// How many descriptors exist (indices 0 .. desc_count()-1), for diagnostics.
std::uint32_t desc_count();

// Owner-side operations; `seq` is the one desc_open handed out. All are safe
// after the fd has been released (they then fail with bad_file_descriptor).
//
// Takes a reference for one operation; false if the fd is closed or closing.
bool desc_acquire(PollDesc* d, std::uint32_t seq);
// Drops a reference; the last one after close() closes the fd and recycles `d`.
void desc_release(PollDesc* d);
// Marks the fd closing, ends the waits on it (with kClosed) and drops the
// owner's reference. Idempotent per seq.
void desc_close(PollDesc* d, std::uint32_t seq);

// Blocks the caller until `d`'s fd may be ready for `mode`, until `deadline`
// (errc::timed_out), until the fiber's stop request (errc::operation_canceled), or
// until close() (errc::bad_file_descriptor). On a fiber of a Scheduler it parks
// the fiber (registering the fd with the Scheduler's poller on first use);
// elsewhere (a plain thread, another executor) it blocks the thread in poll(2).
// The caller holds a reference (desc_acquire).
//
// after_drain: the caller has not tried its syscall yet, because its previous read
// on this stream socket returned less than it asked for, so the receive queue was
// empty then. Every byte (or hang-up) that arrives after that brings a new edge
// (edge-triggered epoll, io_uring multishot poll), so waiting for an edge instead
// of a syscall that would say EAGAIN loses nothing, with one exception: an edge
// reported before the short read, whose condition outlives it (hang-up, error,
// urgent data: `hangup`). With after_drain set, desc_wait returns at once once the
// fd has reported one of those, and the caller's syscall sees it.
//
// parked (optional): set to true when the call parked and a readiness event ended
// it; false when it returned at once on an edge that came before it was called
// (slot.ready), which may describe bytes that a read has taken since, or on a
// hang-up (after_drain), or on a plain thread.
std::error_code desc_wait(PollDesc* d, IoMode mode, std::optional<Clock::time_point> deadline,
                          bool after_drain = false, bool* parked = nullptr);

// Readiness from a poller: ends the waits on `d` (if `seq` is still current) for
// the directions in `read`/`write`. `disarmed`: the backend says the registration
// ended (an io_uring multishot poll that completed for good); the next wait
// registers again. `hangup`: the event reported hang-up, an error or urgent data
// (sets PollDesc::hangup). Returns how many waits it ended.
int desc_ready(PollDesc* d, std::uint32_t seq, bool read, bool write, bool disarmed, bool hangup = false);

}  // namespace spindle::detail
