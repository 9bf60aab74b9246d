// detail::Socket: an owned, non-blocking file descriptor known to the netpoller,
// and the loop every blocking call runs: try the syscall; on EAGAIN wait for
// readiness (parking the fiber, or blocking a plain thread in poll(2)); retry.
// (A read after a short read on a TCP stream waits first: run's wait_first.)
// The public socket types (tcp.h, udp.h, unix.h) and io::File are built on it.
//
// Thread safety: any number of fibers and threads may call operations and close()
// concurrently on one Socket (one reader and one writer at a time); moving or
// destroying it must not race with anything else.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <system_error>
#include <utility>

#include "spindle/io/deadline.h"
#include "spindle/sched/executor.h"

namespace spindle::detail {

struct PollDesc;

class Socket {
 public:
  enum class Dir : std::uint8_t { kRead, kWrite };

  Socket() = default;
  // Takes `fd` (made non-blocking and close-on-exec here). On failure (the
  // descriptor table is full) closes it and sets `ec`.
  Socket(int fd, std::error_code& ec);
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  ~Socket() { close(); }

  // Whether it holds an fd (true until close() or a move from it).
  bool is_open() const;
  // The fd number, or -1; valid only while no other fiber may close it.
  int fd() const { return fd_; }

  // Ends every call blocked on the fd (they fail with bad_file_descriptor); the fd
  // itself is closed as soon as the last call in flight has returned.
  void close() noexcept;

  // Runs op(fd, ctx) until it returns >= 0 or fails with an errno other than
  // EAGAIN/EINTR, waiting for `dir` readiness in between. `deadline` is the call's,
  // else the socket's default for `dir`. Returns op's result, or -1 with `ec` set.
  // wait_first: the caller knows the fd had nothing to read after its last call
  // (a short read on a stream): wait for readiness before the first try, sparing
  // a syscall that would say EAGAIN (see desc_wait's after_drain).
  long run(Dir dir, net::Deadline deadline, long (*op)(int fd, void* ctx), void* ctx, std::error_code& ec,
           bool wait_first = false);
  template <class Op>
  long run(Dir dir, net::Deadline deadline, Op&& op, std::error_code& ec, bool wait_first = false) {
    return run(
        dir, deadline, [](int fd, void* ctx) -> long { return (*static_cast<std::remove_reference_t<Op>*>(ctx))(fd); },
        &op, ec, wait_first);
  }

  // Whether the last read on this stream returned short (StreamSocket::read_some).
  // Relaxed: a hint only its one reader at a time uses; a stale value costs a
  // syscall or an edge wait, never a lost byte (desc_wait's after_drain).
  bool read_drained() const { return read_drained_.load(std::memory_order_relaxed); }
  void set_read_drained(bool v) { read_drained_.store(v, std::memory_order_relaxed); }
  // Waits once for `dir` readiness (connect, StreamSocket::wait_readable), with a
  // reference held. after_drain, parked: desc_wait's.
  std::error_code wait(Dir dir, net::Deadline deadline, bool after_drain = false, bool* parked = nullptr);

  // Go's SetReadDeadline / SetWriteDeadline: the deadline of calls that give none.
  void set_deadline(Dir dir, net::Deadline deadline);
  std::optional<Clock::time_point> deadline(Dir dir) const;

 private:
  PollDesc* desc_ = nullptr;
  std::uint32_t seq_ = 0;
  int fd_ = -1;
  // Clock ticks, kNone for no deadline; atomic: set by one fiber, read by others.
  static constexpr std::int64_t kNone = INT64_MAX;
  std::atomic<std::int64_t> read_deadline_{kNone}, write_deadline_{kNone};
  std::atomic<bool> read_drained_{false};
};

}  // namespace spindle::detail
