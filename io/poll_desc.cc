#include "io/poll_desc.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "io/io_poller.h"
#include "spindle/fibers/fiber.h"
#include "spindle/fibers/this_fiber.h"

namespace spindle::detail {
namespace {

// The descriptor table: chunks that are allocated once and never freed, so that
// desc_at() on an index from a stale event is always a valid read.
constexpr std::uint32_t kChunkBits = 8;
constexpr std::uint32_t kChunkSize = 1u << kChunkBits;
constexpr std::uint32_t kMaxChunks = 1u << 16;

struct Table {
  std::mutex lock;  // guards free_head and growth
  PollDesc* free_head = nullptr;
  std::atomic<std::uint32_t> count{0};
  std::atomic<PollDesc*> chunks[kMaxChunks] = {};
};

Table& table() {
  static Table* t = new Table;  // never destroyed: stale events may read it at exit
  return *t;
}

PollDesc* alloc_desc() {
  Table& t = table();
  std::lock_guard<std::mutex> lk(t.lock);
  if (t.free_head == nullptr) {
    const std::uint32_t n = t.count.load(std::memory_order_relaxed);
    if ((n >> kChunkBits) >= kMaxChunks) return nullptr;
    auto* chunk = static_cast<PollDesc*>(::operator new(sizeof(PollDesc) * kChunkSize));
    for (std::uint32_t i = 0; i < kChunkSize; ++i) {
      auto* d = new (&chunk[i]) PollDesc(n + i);
      d->free_next = t.free_head;
      t.free_head = d;
    }
    // Release pairs with desc_at's acquire: a reader of the count sees the chunk.
    t.chunks[n >> kChunkBits].store(chunk, std::memory_order_release);
    t.count.store(n + kChunkSize, std::memory_order_release);
  }
  PollDesc* d = t.free_head;
  t.free_head = d->free_next;
  return d;
}

void free_desc(PollDesc* d) {
  Table& t = table();
  std::lock_guard<std::mutex> lk(t.lock);
  d->free_next = t.free_head;
  t.free_head = d;
}

// Ends the waits in both slots with `reason` (under d->lock). Notifying under the
// lock keeps the waiter's frame alive: a fiber that timed out takes the lock
// before it may return (desc_wait), so it cannot leave while we touch its IoWait.
void end_waits(PollDesc* d, IoWait::Reason reason) {
  for (PollDesc::Slot* s : {&d->rd, &d->wr}) {
    if (IoWait* w = s->waiter) {
      s->waiter = nullptr;
      w->reason = reason;
      w->waiter.notify();
    }
  }
}

std::error_code wait_on_thread(PollDesc* d, IoMode mode, std::optional<Clock::time_point> deadline) {
  {
    std::lock_guard<SpinLock> lk(d->lock);
    if (d->closing.load(std::memory_order_relaxed)) return std::make_error_code(std::errc::bad_file_descriptor);
    ++d->thread_waiters;
  }
  pollfd pfd{d->fd, static_cast<short>(mode == IoMode::kRead ? POLLIN : POLLOUT), 0};
  int timeout = -1;
  if (deadline) {
    const auto left = *deadline - Clock::now();
    // Rounded up, so that a wait never ends before its deadline.
    timeout = left <= Clock::duration::zero()
                  ? 0
                  : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
  }
  const int n = ::poll(&pfd, 1, timeout);
  const int err = errno;
  {
    std::lock_guard<SpinLock> lk(d->lock);
    --d->thread_waiters;
  }
  if (d->closing.load(std::memory_order_acquire)) return std::make_error_code(std::errc::bad_file_descriptor);
  if (n < 0 && err != EINTR) return {err, std::system_category()};
  if (n == 0) return std::make_error_code(std::errc::timed_out);
  return {};
}

}  // namespace

PollDesc* desc_at(std::uint32_t index) {
  Table& t = table();
  if (index >= t.count.load(std::memory_order_acquire)) return nullptr;
  return &t.chunks[index >> kChunkBits].load(std::memory_order_acquire)[index & (kChunkSize - 1)];
}

std::uint32_t desc_count() { return table().count.load(std::memory_order_acquire); }

PollDesc* desc_open(int fd) {
  PollDesc* d = alloc_desc();
  if (d == nullptr) return nullptr;
  std::lock_guard<SpinLock> lk(d->lock);
  d->fd = fd;
  d->poller = nullptr;
  d->armed = false;
  d->hangup = false;
  d->closing.store(false, std::memory_order_relaxed);
  d->refs = 1;
  d->thread_waiters = 0;
  d->rd = {};
  d->wr = {};
  return d;
}

bool desc_acquire(PollDesc* d, std::uint32_t seq) {
  std::lock_guard<SpinLock> lk(d->lock);
  if (d->seq != seq || d->closing.load(std::memory_order_relaxed)) return false;
  ++d->refs;
  return true;
}

void desc_release(PollDesc* d) {
  int fd = -1;
  {
    std::lock_guard<SpinLock> lk(d->lock);
    if (--d->refs > 0) return;
    // Last reference after close(): retire this registration. The backend
    // withdraws it (io_uring: its poll request holds the file open), then bumping
    // seq turns every event still in flight for it into a stale one.
    if (d->poller != nullptr && d->armed) d->poller->remove(d);
    ++d->seq;
    fd = std::exchange(d->fd, -1);
    d->poller = nullptr;
    d->armed = false;
    d->hangup = false;
    d->rd = {};
    d->wr = {};
  }
  ::close(fd);
  free_desc(d);
}

void desc_close(PollDesc* d, std::uint32_t seq) {
  {
    std::lock_guard<SpinLock> lk(d->lock);
    if (d->seq != seq || d->closing.load(std::memory_order_relaxed)) return;
    d->closing.store(true, std::memory_order_release);
    end_waits(d, IoWait::kClosed);
    // Threads blocked in poll(2) are not woken by close(2); a shutdown is seen
    // by poll on sockets (POLLHUP). Only done when a thread waits, since it
    // changes what the peer sees on a socket shared with another process.
    if (d->thread_waiters > 0) ::shutdown(d->fd, SHUT_RDWR);
  }
  desc_release(d);
}

std::error_code desc_wait(PollDesc* d, IoMode mode, std::optional<Clock::time_point> deadline, bool after_drain,
                          bool* parked) {
  if (parked != nullptr) *parked = false;
  Fiber* f = current_fiber();
  IoPoller* poller = nullptr;
  if (f != nullptr) {
    {
      std::lock_guard<SpinLock> lk(d->lock);
      poller = d->poller;
    }
    if (poller == nullptr) poller = poller_for(f->executor());
  }
  if (poller == nullptr) return wait_on_thread(d, mode, deadline);
  if (f->stop_requested()) return std::make_error_code(std::errc::operation_canceled);

  IoWait iw;
  iw.mode = mode;
  iw.waiter.object = d;
  iw.waiter.kind = mode == IoMode::kRead ? "I/O read" : "I/O write";
  PollDesc::Slot& slot = d->slot(mode);
  d->lock.lock();
  if (d->closing.load(std::memory_order_relaxed)) {
    d->lock.unlock();
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  if (d->poller != nullptr) poller = d->poller;
  if (!d->armed) {
    // First wait on a Scheduler (or the backend ended the registration): register.
    // An fd that is ready already gets an edge at once, which sets the slot or
    // wakes us.
    if (std::error_code ec = poller->add(d)) {
      d->lock.unlock();
      return ec;
    }
    d->poller = poller;
    d->armed = true;
  }
  if (after_drain && d->hangup) {  // no edge will come for it: let the syscall report it
    d->lock.unlock();
    return {};
  }
  if (slot.ready) {  // an edge came since our caller's syscall said EAGAIN (or read short)
    slot.ready = false;
    d->lock.unlock();
    return {};
  }
  if (slot.waiter != nullptr) {  // two fibers reading (or writing) one socket at once
    d->lock.unlock();
    return std::make_error_code(std::errc::operation_in_progress);
  }
  slot.waiter = &iw;
  poller->waiter_added();
  // The lock is released by the park callback, off this fiber's stack: from then
  // on a poller or close() may end the wait. own_stop: the fiber's own
  // request_stop() ends it too (Waiter's cancellation, fibers/waiter.h), which
  // also covers a stop requested before we got here.
  SpinLock* lock = &d->lock;
  const WakeReason why = iw.waiter.wait([lock] { lock->unlock(); return true; }, deadline, {}, /*own_stop=*/true);
  poller->waiter_removed();
  if (why != WakeReason::kNotified) {
    // A deadline or a stop ended the wait: withdraw under the lock. A poller or
    // close() that took us out already has had its notify() fail; it keeps the
    // edge in slot.ready, and our caller retries its syscall before waiting again.
    std::lock_guard<SpinLock> lk(d->lock);
    if (slot.waiter == &iw) slot.waiter = nullptr;
    return std::make_error_code(why == WakeReason::kTimedOut ? std::errc::timed_out : std::errc::operation_canceled);
  }
  switch (iw.reason) {
    case IoWait::kReady:
      if (parked != nullptr) *parked = true;
      return {};
    case IoWait::kClosed:
      return std::make_error_code(std::errc::bad_file_descriptor);
  }
  return {};
}

int desc_ready(PollDesc* d, std::uint32_t seq, bool read, bool write, bool disarmed, bool hangup) {
  int woken = 0;
  std::lock_guard<SpinLock> lk(d->lock);
  if (d->seq != seq) return 0;  // stale: the fd was closed since (and maybe reused)
  if (disarmed) d->armed = false;
  if (hangup) d->hangup = true;
  for (int i = 0; i < 2; ++i) {
    if (!(i == 0 ? read : write)) continue;
    PollDesc::Slot& s = i == 0 ? d->rd : d->wr;
    IoWait* w = std::exchange(s.waiter, nullptr);
    if (w != nullptr) {
      w->reason = IoWait::kReady;
      if (w->waiter.notify()) {
        ++woken;
        continue;
      }
    }
    s.ready = true;  // nobody waited (or its deadline won): keep the edge
  }
  return woken;
}

}  // namespace spindle::detail
