// StreamSocket: the byte-stream calls shared by TcpStream (tcp.h) and UnixStream
// (unix.h). Every blocking call here:
//  - on a fiber of a Scheduler parks the fiber (its worker runs other fibers)
//    until the socket is ready; on a plain thread (or another executor) blocks
//    the thread in poll(2);
//  - gives up at its Deadline, else at the socket's default deadline for that
//    direction (set_read_deadline / set_write_deadline), with errc::timed_out;
//  - ends with errc::operation_canceled when the fiber's stop is requested
//    (JoinHandle::request_stop), and with errc::bad_file_descriptor when another
//    fiber or thread closes the socket;
//  - comes as a throwing form (std::system_error) and an error_code form.
// One fiber may read while another writes; two readers (or two writers) at once
// get errc::operation_in_progress.
#pragma once

#include <cstddef>
#include <optional>
#include <system_error>

#include "spindle/io/buffer.h"
#include "spindle/io/deadline.h"
#include "spindle/io/error.h"
#include "spindle/io/socket.h"

namespace spindle::net {

// Which direction(s) shutdown() ends.
enum class Shutdown { kRead, kWrite, kBoth };

class StreamSocket {
 public:
  // Reads at least one byte (as many as are there, up to buf.size()); returns 0
  // at the end of the stream (the peer shut down its writing side or closed).
  std::size_t read_some(MutableBuffer buf, Deadline deadline = {});
  std::size_t read_some(MutableBuffer buf, std::error_code& ec, Deadline deadline = {}) noexcept;

  // Waits until a read would find something: bytes, the end of the stream, or an
  // error (which this call reports). Reads nothing. For servers that hold many idle
  // connections: a fiber that waits here before it takes a read buffer (from the
  // heap or a pool) holds no buffer while its connection is idle — a parked fiber
  // is then one touched stack page and its bookkeeping (see README, "Networking").
  // Sometimes (a readiness event that arrived while it waited but described bytes
  // the previous read had already taken: rare on epoll, commoner on io_uring) it
  // returns with nothing there yet, and the read after it waits as usual. The
  // deadline, the stop request and close() end it as they end read_some.
  void wait_readable(Deadline deadline = {});
  void wait_readable(std::error_code& ec, Deadline deadline = {}) noexcept;

  // Reads exactly buf.size() bytes. Fails with net::Error::kEof if the stream
  // ends first; the error_code form returns how many bytes it did read.
  void read_exact(MutableBuffer buf, Deadline deadline = {});
  std::size_t read_exact(MutableBuffer buf, std::error_code& ec, Deadline deadline = {}) noexcept;

  // Writes all of buf (in as many sends as the socket buffer takes). The
  // error_code form returns how many bytes were sent.
  void write_all(ConstBuffer buf, Deadline deadline = {});
  std::size_t write_all(ConstBuffer buf, std::error_code& ec, Deadline deadline = {}) noexcept;

  // Writes what the socket buffer takes now, waiting only if it takes nothing.
  std::size_t write_some(ConstBuffer buf, Deadline deadline = {});
  std::size_t write_some(ConstBuffer buf, std::error_code& ec, Deadline deadline = {}) noexcept;

  // shutdown(2): ends one or both directions; the peer reads end-of-stream after
  // kWrite. Does not block.
  void shutdown(Shutdown how = Shutdown::kWrite);
  void shutdown(Shutdown how, std::error_code& ec) noexcept;

  // Closes the socket: calls blocked on it (in other fibers or threads) fail with
  // errc::bad_file_descriptor, and the fd is released once they have returned.
  // Idempotent; the destructor closes too.
  void close() noexcept { socket_.close(); }
  // Whether the socket is open (not closed, not moved from).
  bool is_open() const { return socket_.is_open(); }

  // Default deadlines (Go's SetReadDeadline/SetWriteDeadline/SetDeadline): calls
  // made without a Deadline give up at this one. A Deadline made from a duration
  // is fixed when set (it is not renewed per call). Takes effect from the next
  // call, not for calls already blocked.
  void set_read_deadline(Deadline deadline) { socket_.set_deadline(spindle::detail::Socket::Dir::kRead, deadline); }
  void set_write_deadline(Deadline deadline) { socket_.set_deadline(spindle::detail::Socket::Dir::kWrite, deadline); }
  void set_deadline(Deadline deadline) {
    set_read_deadline(deadline);
    set_write_deadline(deadline);
  }

  // The fd, for setsockopt and the like (-1 when closed). Do not close it.
  int native_handle() const { return socket_.fd(); }

 protected:
  StreamSocket() = default;
  StreamSocket(spindle::detail::Socket s, bool short_read_drains)
      : socket_(std::move(s)), short_read_drains_(short_read_drains) {}
  spindle::detail::Socket socket_;
  // Whether a recv that returns less than asked leaves the receive queue empty,
  // so that read_some may wait for the next edge instead of trying recv first.
  // True for TCP: tcp_recvmsg copies until the queue is empty, and stops short with
  // bytes left only at an urgent mark; that, and a hang-up or an error that came
  // with the data, bring no later edge: PollDesc::hangup covers them. False for Unix streams: a recv stops after a message that carried file
  // descriptors or another writer's credentials, with more queued behind it.
  bool short_read_drains_ = false;
};

}  // namespace spindle::net
