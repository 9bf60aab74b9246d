// UringPoller: the io_uring backend of the Scheduler's Poller seam
// (sched/poller.h), through liburing. Readiness, not completion: each fd waited on
// from the Scheduler's fibers gets one multishot IORING_OP_POLL_ADD for
// POLLIN | POLLOUT | POLLRDHUP | POLLPRI, edge-triggered (a CQE per wakeup, the first at
// once if the fd is ready), whose user_data is desc_tag(index, seq) — the same
// pollDesc model and stale-event guard as the epoll backend (poll_desc.h). The
// fibers then retry their read/write/accept syscalls as with epoll.
//
// Where io_uring differs from epoll, and what is done about it:
//  - A poll request holds a reference to the file: close(2) alone would leave a
//    socket open (no FIN). remove() cancels the request (IORING_OP_POLL_REMOVE)
//    before the fd is closed; its -ECANCELED completion carries the old seq and
//    is dropped as stale.
//  - A multishot poll can end (a completion without IORING_CQE_F_MORE: a full
//    completion queue, a file that cannot be waited on). That completion wakes
//    both directions and disarms the descriptor; the next wait registers again.
//  - The rings are single-producer and single-consumer: submissions take
//    sq_lock_, reaping takes cq_lock_ (poll() only tries it; the one worker
//    blocked in wait() holds it while it sleeps, and gets every completion).
//  - interrupt(): a pending interrupt is the flag interrupt_pending_, which
//    wait() checks before it sleeps; setting it also submits an IORING_OP_NOP,
//    whose completion is posted inline by the interrupting thread and wakes the
//    waiter. (A poll on an eventfd would be posted through task work on the
//    thread that armed that poll: a second thread woken per interrupt.)
//
// File operations (io::File: IORING_OP_OPENAT, READ, WRITE, FSYNC) are
// completions, not readiness: run_file_op() parks the calling fiber and submits
// the SQE from the park callback (after the fiber left its stack, so a completion
// cannot race with the park); its user_data is the address of the waiting
// operation with kOpTag set, and whichever worker reaps the CQE wakes the fiber.
// In flight, it counts as a waiter (has_waiters()), so idle workers poll or block
// in this ring for it.
//
// Requirements checked by create() (else it fails and make_poller falls back to
// epoll): io_uring_queue_init succeeds, IORING_FEAT_EXT_ARG (a wait with a
// timeout that takes no submission slot; Linux 5.11) and IORING_FEAT_NODROP, and
// a multishot poll on an eventfd completes with IORING_CQE_F_MORE (Linux 5.13).
#pragma once

#include <liburing.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>

#include "io/io_poller.h"

namespace spindle::detail {

class UringPoller final : public IoPoller {
 public:
  // A ready poller, or null with `err` set to the errno that the setup or the
  // probe failed with.
  static std::unique_ptr<UringPoller> create(int& err);
  ~UringPoller() override;

  const char* name() const override { return "io_uring"; }
  std::size_t poll() override;
  std::size_t wait(std::optional<Clock::time_point> deadline) override;
  void interrupt() override;
  std::error_code add(PollDesc* d) override;
  void remove(PollDesc* d) override;
  bool runs_file_ops() const override { return true; }
  long run_file_op(const FileOp& op) override;

 private:
  UringPoller() = default;
  // Queues one SQE (prepared by `prep`) and submits it, under sq_lock_. Returns
  // 0 or a negative errno.
  template <class Prep>
  int submit(Prep prep);
  // Whether a multishot poll works here (the second half of create()'s probe).
  int probe_multishot();
  // Handles every completion in the queue (under cq_lock_); returns the waits ended.
  std::size_t reap();

  io_uring ring_{};
  bool ring_ready_ = false;
  std::mutex sq_lock_;
  std::mutex cq_lock_;
  std::atomic<bool> interrupt_pending_{false};  // set by interrupt(), cleared by wait()
};

}  // namespace spindle::detail
