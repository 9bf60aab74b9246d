// EpollPoller: the epoll backend of the Scheduler's Poller seam (sched/poller.h).
// One per Scheduler: an epoll instance in which every fd waited on from that
// Scheduler's fibers is registered once, edge-triggered, for both directions
// (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET), plus an eventfd for interrupt().
// An event's data is (descriptor index << 32 | descriptor seq): see poll_desc.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "spindle/sched/poller.h"

namespace spindle {
class Executor;
}

namespace spindle::detail {

struct PollDesc;

class EpollPoller final : public Poller {
 public:
  // Throws std::system_error if epoll or the eventfd cannot be created.
  EpollPoller();
  ~EpollPoller() override;

  std::size_t poll() override;
  std::size_t wait(std::optional<Clock::time_point> deadline) override;
  void interrupt() override;
  bool has_waiters() const override { return waiters_.load(std::memory_order_relaxed) > 0; }
  void describe_waiters(std::string& out) const override;

  // Registers d->fd (called once per fd, under d->lock).
  std::error_code add(PollDesc* d);
  // Fibers parked on descriptors registered here: counted up before a fiber
  // parks and down after it woke, so has_waiters() is true while any is parked.
  void waiter_added() { waiters_.fetch_add(1, std::memory_order_relaxed); }
  void waiter_removed() { waiters_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  // One epoll_wait; `blocking`: this is wait(), the only caller that consumes an
  // interrupt.
  std::size_t run(int timeout_ms, bool blocking);

  int epfd_ = -1;
  int eventfd_ = -1;
  std::atomic<bool> interrupt_pending_{false};  // an eventfd write not yet read back
  std::atomic<int> waiters_{0};
};

// The poller of `executor` if it is a Scheduler (installed on first use), else
// null (the caller then blocks its thread). Honours SPINDLE_IO_BACKEND.
EpollPoller* poller_for(Executor* executor);

// The backend in use: "epoll". SPINDLE_IO_BACKEND=epoll selects it;
// SPINDLE_IO_BACKEND=io_uring makes the first I/O call abort with a message (this
// build has no io_uring backend); any other value likewise.
const char* io_backend_name();

}  // namespace spindle::detail
