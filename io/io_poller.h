// IoPoller: what the io layer needs of a netpoller backend on top of the
// Scheduler's Poller seam (sched/poller.h), and the choice of backend.
//
// Two backends, one model (Go's pollDesc, poll_desc.h): every fd waited on from
// a Scheduler's fibers is registered once for both directions, edge-triggered,
// tagged (descriptor index << 32 | descriptor seq); the backend turns each
// readiness report into desc_ready(). They differ in how they learn readiness:
//  - EpollPoller (epoll_poller.h): EPOLLET registrations and epoll_pwait2.
//  - UringPoller (uring_poller.h): a multishot IORING_OP_POLL_ADD per fd and the
//    completion queue of an io_uring.
//
// Choice, per Scheduler, when its first fiber waits for I/O, by SPINDLE_IO_BACKEND:
// unset, empty or "epoll": epoll (the default: it won bench/echo at every
// connection count); "io_uring" forces io_uring (if it cannot be set up, abort
// with a message); "auto": io_uring if the probe succeeds (io_uring_queue_init
// and a multishot poll; it fails with EPERM under seccomp profiles and
// kernel.io_uring_disabled, ENOSYS on old kernels and qemu-user), else epoll.
// Any other value aborts.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "spindle/sched/poller.h"

namespace spindle {
class Executor;
}

namespace spindle::detail {

struct PollDesc;

// One positional file operation (io::File through io_uring).
struct FileOp {
  enum Kind { kOpen, kRead, kWrite, kFsync } kind;
  int fd = -1;             // kRead, kWrite, kFsync
  void* buf = nullptr;     // kRead, kWrite
  unsigned len = 0;        // kRead, kWrite
  std::uint64_t offset = 0;
  const char* path = nullptr;  // kOpen (relative to the working directory)
  int flags = 0;               // kOpen
  unsigned mode = 0;           // kOpen
};

class IoPoller : public Poller {
 public:
  // "epoll" or "io_uring".
  virtual const char* name() const = 0;
  // Registers d->fd for both directions, edge-triggered (called under d->lock,
  // once per fd, and again after the backend reported the registration ended:
  // desc_ready's `disarmed`).
  virtual std::error_code add(PollDesc* d) = 0;
  // Called under d->lock just before the fd is closed, while d->seq still is the
  // registration's: withdraws the registration if closing the fd does not.
  virtual void remove(PollDesc* d) = 0;

  // Completion-based file operations (io::File): whether this backend runs them
  // (io_uring) or the caller must use the blocking pool (epoll).
  virtual bool runs_file_ops() const { return false; }
  // Submits `op` from the calling fiber, which parks until the operation completes
  // (not cancellable: the kernel owns op's buffer until then). Returns the
  // syscall's result, or -errno. Only where runs_file_ops() is true, on a fiber of
  // this poller's Scheduler.
  virtual long run_file_op(const FileOp& op);

  bool has_waiters() const final { return waiters_.load(std::memory_order_relaxed) > 0; }
  void describe_waiters(std::string& out) const final;
  // Fibers parked on descriptors registered here: counted up before a fiber
  // parks and down after it woke, so has_waiters() is true while any is parked.
  void waiter_added() { waiters_.fetch_add(1, std::memory_order_relaxed); }
  void waiter_removed() { waiters_.fetch_sub(1, std::memory_order_relaxed); }

 protected:
  // For the backends' destructors: forgets this poller in every descriptor still
  // registered with it (a socket may outlive its Scheduler; its close() then has
  // nothing to withdraw).
  void detach_all();

 private:
  std::atomic<int> waiters_{0};
};

// The tag a registration carries back in each readiness report.
inline std::uint64_t desc_tag(std::uint32_t index, std::uint32_t seq) { return (std::uint64_t{index} << 32) | seq; }

// The poller of `executor` if it is a Scheduler (chosen and installed on first
// use, see above), else null (the caller then blocks its thread).
IoPoller* poller_for(Executor* executor);

// A new poller as chosen above (aborts on an unavailable forced backend).
std::unique_ptr<IoPoller> make_poller();

// Test hook: while non-zero, setting up io_uring fails with this errno (as under
// a seccomp profile that denies io_uring_setup), so the fallback can be tested.
void fail_io_uring_setup_for_testing(int err);

}  // namespace spindle::detail
