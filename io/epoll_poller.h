// EpollPoller: the epoll backend of the Scheduler's Poller seam (sched/poller.h).
// One per Scheduler: an epoll instance in which every fd waited on from that
// Scheduler's fibers is registered once, edge-triggered, for both directions
// (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET), plus an eventfd for
// interrupt(). Hang-up, error and urgent-data events also set PollDesc::hangup.
// A blocking wait's deadline is kept to the nanosecond (epoll_pwait2, Linux 5.11;
// else milliseconds, rounded up).
// An event's data is desc_tag(index, seq) (io_poller.h, poll_desc.h).
#pragma once

#include <atomic>
#include <optional>
#include <system_error>

#include "io/io_poller.h"

struct epoll_event;  // <sys/epoll.h>

namespace spindle::detail {

class EpollPoller final : public IoPoller {
 public:
  // Throws std::system_error if epoll or the eventfd cannot be created.
  EpollPoller();
  ~EpollPoller() override;

  const char* name() const override { return "epoll"; }
  std::size_t poll() override;
  std::size_t wait(std::optional<Clock::time_point> deadline) override;
  void interrupt() override;
  std::error_code add(PollDesc* d) override;
  // Nothing to do: close(2) removes the fd from the epoll set (we never dup it).
  void remove(PollDesc*) override {}

 private:
  // One wait for events, up to `timeout` (nullopt: for ever; zero: not at all),
  // then readies what came; `blocking`: this is wait(), the only caller that
  // consumes an interrupt.
  std::size_t run(std::optional<Clock::duration> timeout, bool blocking);
  // epoll_pwait2 with `timeout` in nanoseconds, or epoll_wait where the kernel
  // lacks it (see epoll_poller.cc).
  int epoll_wait_for(epoll_event* events, int max, std::optional<Clock::duration> timeout);

  int epfd_ = -1;
  int eventfd_ = -1;
  std::atomic<bool> interrupt_pending_{false};  // an eventfd write not yet read back
};

}  // namespace spindle::detail
