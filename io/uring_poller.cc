#include "io/uring_poller.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>

#include "io/poll_desc.h"
#include "spindle/fibers/waiter.h"

namespace spindle::detail {
namespace {

// user_data of completions that are not readiness: interrupts (NOPs) and
// bookkeeping (poll removals, the probe). Descriptor tags never reach these:
// an index is below 2^24 (poll_desc.cc's table).
constexpr std::uint64_t kInterruptTag = ~std::uint64_t{0};
constexpr std::uint64_t kIgnoreTag = ~std::uint64_t{0} - 1;
// Set in the user_data of a file operation (the rest is the address of its
// OpWait): never set in a descriptor tag (index < 2^24) nor in a user-space
// address, and both tags above are handled before it is looked at.
constexpr std::uint64_t kOpTag = std::uint64_t{1} << 62;
// Submissions go out one at a time; completions can pile up while the workers run
// fibers (one per readiness edge), and overflow would end multishot polls.
constexpr unsigned kSqEntries = 64;
constexpr unsigned kCqEntries = 4096;
constexpr unsigned kBatch = 128;

constexpr unsigned kPollMask = POLLIN | POLLOUT | POLLRDHUP | POLLPRI;  // PRI: see PollDesc::hangup

}  // namespace

std::unique_ptr<UringPoller> UringPoller::create(int& err) {
  std::unique_ptr<UringPoller> p(new UringPoller);
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  params.cq_entries = kCqEntries;
  const int r = io_uring_queue_init_params(kSqEntries, &p->ring_, &params);
  if (r < 0) {
    err = -r;
    return nullptr;
  }
  p->ring_ready_ = true;
  if ((params.features & IORING_FEAT_EXT_ARG) == 0 || (params.features & IORING_FEAT_NODROP) == 0) {
    err = ENOSYS;
    return nullptr;
  }
  if ((err = p->probe_multishot()) != 0) return nullptr;
  return p;
}

// Arms a multishot poll on a fresh eventfd, makes it readable and waits for a
// completion that says more will follow; then cancels it. Its completions carry
// kIgnoreTag, so any that come late are dropped by reap().
int UringPoller::probe_multishot() {
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return errno;
  int err = 0;
  int r = submit([efd](io_uring_sqe* sqe) {
    io_uring_prep_poll_multishot(sqe, efd, POLLIN);
    sqe->user_data = kIgnoreTag;
  });
  if (r == 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t w = ::write(efd, &one, sizeof one);
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{.tv_sec = 5, .tv_nsec = 0};
    do r = io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
    while (r == -EINTR);
    if (r < 0) {
      err = -r;
    } else {
      // Old kernels reject the multishot flag: res is -EINVAL.
      if (cqe->res < 0) err = -cqe->res;
      else if ((cqe->flags & IORING_CQE_F_MORE) == 0) err = EOPNOTSUPP;
      io_uring_cqe_seen(&ring_, cqe);
    }
    submit([](io_uring_sqe* sqe) {
      io_uring_prep_poll_remove(sqe, kIgnoreTag);
      sqe->user_data = kIgnoreTag;
    });
  } else {
    err = -r;
  }
  ::close(efd);
  return err;
}

UringPoller::~UringPoller() {
  detach_all();
  if (ring_ready_) io_uring_queue_exit(&ring_);
}

template <class Prep>
int UringPoller::submit(Prep prep) {
  std::lock_guard<std::mutex> lk(sq_lock_);
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {  // only if an earlier submit failed and left SQEs queued
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return -EBUSY;
  }
  prep(sqe);
  int r;
  do r = io_uring_submit(&ring_);
  while (r == -EINTR);
  if (r < 0) {
    // Nothing was consumed (io_uring_enter fails only then), but the SQE stays
    // queued and a later submit would send it: neutralize it, since the caller
    // treats the request as never made (a file operation's OpWait is gone by then).
    io_uring_prep_nop(sqe);
    sqe->user_data = kIgnoreTag;
    return r;
  }
  return 0;
}

std::error_code UringPoller::add(PollDesc* d) {
  const int r = submit([d](io_uring_sqe* sqe) {
    io_uring_prep_poll_multishot(sqe, d->fd, kPollMask);
    sqe->user_data = desc_tag(d->index, d->seq);
  });
  if (r < 0) return {-r, std::system_category()};
  return {};
}

void UringPoller::remove(PollDesc* d) {
  // Processed inline by io_uring_enter: the request lets go of the file (through
  // task work on the thread that armed it) and completes with -ECANCELED under
  // the old seq, a stale event.
  submit([d](io_uring_sqe* sqe) {
    io_uring_prep_poll_remove(sqe, desc_tag(d->index, d->seq));
    sqe->user_data = kIgnoreTag;
  });
}

// A fiber parked in run_file_op() until its operation's completion.
struct OpWait {
  Waiter waiter;
  long res = 0;
  // Set (release) after the SQE is filled, before it is submitted; reap() loads it (acquire) before it
  // touches the rest. The kernel orders the completion after the submission
  // anyway; this pairing says so to the memory model (and ThreadSanitizer, which
  // cannot see through the rings).
  std::atomic<bool> submitted{false};
};

long UringPoller::run_file_op(const FileOp& op) {
  OpWait ow;
  ow.waiter.object = this;
  ow.waiter.kind = op.kind == FileOp::kRead ? "file read" : op.kind == FileOp::kWrite ? "file write"
                   : op.kind == FileOp::kFsync ? "file fsync" : "file open";
  waiter_added();
  // Runs off the fiber's stack, after the switch: from the submission on, the
  // completion may wake the fiber on any worker. Returning false (the submission
  // failed) ends the wait at once; res then holds the error.
  auto publish = [this, &op, &ow] {
    OpWait* w = &ow;  // read before the submission: after it, ow may be gone
    const int r = submit([&op, w](io_uring_sqe* sqe) {
      switch (op.kind) {
        case FileOp::kOpen: io_uring_prep_openat(sqe, AT_FDCWD, op.path, op.flags, op.mode); break;
        case FileOp::kRead: io_uring_prep_read(sqe, op.fd, op.buf, op.len, op.offset); break;
        case FileOp::kWrite: io_uring_prep_write(sqe, op.fd, op.buf, op.len, op.offset); break;
        case FileOp::kFsync: io_uring_prep_fsync(sqe, op.fd, 0); break;
      }
      io_uring_sqe_set_data64(sqe, kOpTag | reinterpret_cast<std::uintptr_t>(w));
      // After the last read of op and of this callback (on the fiber's stack).
      w->submitted.store(true, std::memory_order_release);
    });
    if (r < 0) {
      w->res = r;
      return false;
    }
    return true;
  };
  ow.waiter.wait(publish);  // no deadline, no stop: only the completion ends it
  waiter_removed();
  return ow.res;
}

std::size_t UringPoller::reap() {
  std::size_t woken = 0;
  io_uring_cqe* cqes[kBatch];
  struct Completion {
    std::uint64_t data;
    std::int32_t res;
    std::uint32_t flags;
  } got[kBatch];
  for (;;) {
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kBatch);
    if (n == 0 && io_uring_cq_has_overflow(&ring_)) {
      io_uring_get_events(&ring_);  // moves the kernel's overflow list into the ring
      n = io_uring_peek_batch_cqe(&ring_, cqes, kBatch);
    }
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) got[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    io_uring_cq_advance(&ring_, n);  // the slots are the kernel's again
    for (unsigned i = 0; i < n; ++i) {
      const Completion& c = got[i];
      if (c.data == kInterruptTag || c.data == kIgnoreTag) continue;  // see wait()
      if ((c.data & kOpTag) != 0) {  // a file operation's one completion
        auto* w = reinterpret_cast<OpWait*>(static_cast<std::uintptr_t>(c.data & ~kOpTag));
        [[maybe_unused]] const bool submitted = w->submitted.load(std::memory_order_acquire);  // true
        w->res = c.res;
        // The only way this wait ends (run_file_op); after this the fiber may run
        // and w be gone.
        w->waiter.notify_sole();
        ++woken;
        continue;
      }
      PollDesc* d = desc_at(static_cast<std::uint32_t>(c.data >> 32));
      if (d == nullptr) continue;
      const bool more = (c.flags & IORING_CQE_F_MORE) != 0;
      bool read = true, write = true;  // an error or the end of the poll wakes both
      const auto mask = c.res >= 0 ? static_cast<unsigned>(c.res) : 0u;
      if (c.res >= 0 && more) {
        read = (mask & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0;
        write = (mask & (POLLOUT | POLLHUP | POLLERR)) != 0;
      }
      // (A failed or ended poll says nothing of the fd: the next wait polls again.)
      const bool hangup = (mask & (POLLRDHUP | POLLHUP | POLLERR | POLLPRI)) != 0;
      woken += static_cast<std::size_t>(
          desc_ready(d, static_cast<std::uint32_t>(c.data), read, write, !more, hangup));
    }
    if (n < kBatch) break;
  }
  return woken;
}

std::size_t UringPoller::poll() {
  std::unique_lock<std::mutex> lk(cq_lock_, std::try_to_lock);
  if (!lk.owns_lock()) return 0;  // another worker is reaping: it readies the fibers
  if (io_uring_cq_ready(&ring_) == 0 && !io_uring_cq_has_overflow(&ring_)) return 0;  // no syscall
  return reap();
}

std::size_t UringPoller::wait(std::optional<Clock::time_point> deadline) {
  std::lock_guard<std::mutex> lk(cq_lock_);
  // Acquire pairs with interrupt()'s exchange. An interrupt after this load
  // submits a NOP whose completion ends the sleep below: nobody else can reap it
  // while we hold cq_lock_.
  if (!interrupt_pending_.load(std::memory_order_acquire) && io_uring_cq_ready(&ring_) == 0) {
    io_uring_cqe* cqe = nullptr;
    if (!deadline) {
      io_uring_wait_cqe(&ring_, &cqe);  // -EINTR: return early
    } else {
      const auto left = *deadline - Clock::now();
      if (left > Clock::duration::zero()) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        __kernel_timespec ts{.tv_sec = ns / 1'000'000'000, .tv_nsec = ns % 1'000'000'000};
        io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);  // -ETIME at the deadline
      }
    }
  }
  // Consumed only here: a poll() that reaped the NOP leaves the flag for us.
  interrupt_pending_.store(false, std::memory_order_relaxed);
  return reap();
}

void UringPoller::interrupt() {
  if (interrupt_pending_.exchange(true, std::memory_order_acq_rel)) return;  // one NOP is enough
  submit([](io_uring_sqe* sqe) {
    io_uring_prep_nop(sqe);
    sqe->user_data = kInterruptTag;
  });
}

}  // namespace spindle::detail
