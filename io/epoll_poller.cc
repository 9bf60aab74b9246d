#include "io/epoll_poller.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "io/poll_desc.h"

namespace spindle::detail {
namespace {

constexpr std::uint64_t kInterruptTag = ~std::uint64_t{0};
constexpr int kMaxEvents = 128;

}  // namespace

EpollPoller::EpollPoller() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::system_error(errno, std::system_category(), "spindle: epoll_create1");
  eventfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (eventfd_ < 0) {
    const int err = errno;
    ::close(epfd_);
    throw std::system_error(err, std::system_category(), "spindle: eventfd");
  }
  // Level-triggered: it stays readable until wait() reads it back, so an
  // interrupt that comes before the epoll_wait is not lost.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kInterruptTag;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, eventfd_, &ev);
}

EpollPoller::~EpollPoller() {
  detach_all();
  ::close(eventfd_);
  ::close(epfd_);
}

std::error_code EpollPoller::add(PollDesc* d) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;  // PRI: see PollDesc::hangup
  ev.data.u64 = desc_tag(d->index, d->seq);
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, d->fd, &ev) != 0) return {errno, std::system_category()};
  return {};
}

std::size_t EpollPoller::poll() { return run(Clock::duration::zero(), false); }

std::size_t EpollPoller::wait(std::optional<Clock::time_point> deadline) {
  if (!deadline) return run(std::nullopt, true);
  return run(std::max(*deadline - Clock::now(), Clock::duration::zero()), true);
}

// epoll_pwait2 (Linux 5.11) takes the timeout in nanoseconds: a worker that
// wakes for a timer or ahead of a predicted burst (the Scheduler's
// anticipate_bursts) wakes when asked. Where it is missing (ENOSYS: older kernels,
// qemu-user), epoll_wait's milliseconds, rounded up: waking before the deadline
// would only spin the worker.
int EpollPoller::epoll_wait_for(epoll_event* events, int max, std::optional<Clock::duration> timeout) {
  if (!timeout) return ::epoll_wait(epfd_, events, max, -1);
  if (*timeout == Clock::duration::zero()) return ::epoll_wait(epfd_, events, max, 0);
  static std::atomic<bool> have_pwait2{true};
  if (have_pwait2.load(std::memory_order_relaxed)) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*timeout).count();
    const timespec ts{.tv_sec = static_cast<time_t>(ns / 1'000'000'000), .tv_nsec = static_cast<long>(ns % 1'000'000'000)};
    const int n = ::epoll_pwait2(epfd_, events, max, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    have_pwait2.store(false, std::memory_order_relaxed);
  }
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
  return ::epoll_wait(epfd_, events, max, static_cast<int>(std::min<std::int64_t>(ms, 1 << 30)));
}

std::size_t EpollPoller::run(std::optional<Clock::duration> timeout, bool blocking) {
  epoll_event events[kMaxEvents];
  const int n = epoll_wait_for(events, kMaxEvents, timeout);
  std::size_t woken = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t data = events[i].data.u64;
    if (data == kInterruptTag) {
      // Only the blocking wait() consumes an interrupt: it is meant for the worker
      // blocked here. A non-blocking poll() that read it back could race with that
      // worker's epoll_wait and leave it asleep (a lost wakeup). Level-triggered,
      // the eventfd stays readable for the blocked wait, which epoll wakes.
      if (!blocking) continue;
      std::uint64_t value;
      [[maybe_unused]] const ssize_t r = ::read(eventfd_, &value, sizeof value);
      // Release pairs with interrupt()'s exchange: a later interrupt writes again.
      interrupt_pending_.store(false, std::memory_order_release);
      continue;
    }
    PollDesc* d = desc_at(static_cast<std::uint32_t>(data >> 32));
    if (d == nullptr) continue;
    const std::uint32_t e = events[i].events;
    // Errors and hang-ups wake both directions: the retried syscall reports them.
    const bool read = (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    const bool write = (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
    const bool hangup = (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) != 0;
    woken += static_cast<std::size_t>(desc_ready(d, static_cast<std::uint32_t>(data), read, write, false, hangup));
  }
  return woken;
}

void EpollPoller::interrupt() {
  if (interrupt_pending_.exchange(true, std::memory_order_acq_rel)) return;  // one write is enough
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t r = ::write(eventfd_, &one, sizeof one);
}

}  // namespace spindle::detail
