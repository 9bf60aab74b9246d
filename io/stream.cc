#include "spindle/io/stream.h"

#include <sys/socket.h>

#include <cerrno>

namespace spindle::net {

using spindle::detail::Socket;
using detail::throw_if;

std::size_t StreamSocket::read_some(MutableBuffer buf, std::error_code& ec, Deadline deadline) noexcept {
  // After a short read the receive queue was empty: wait for the next edge before
  // calling recv, instead of a recv that would say EAGAIN (one syscall fewer per
  // message in a request/response loop). See short_read_drains_.
  const bool drained = short_read_drains_ && socket_.read_drained();
  const long n = socket_.run(
      Socket::Dir::kRead, deadline, [&](int fd) -> long { return ::recv(fd, buf.data(), buf.size(), 0); }, ec,
      drained);
  if (short_read_drains_) socket_.set_read_drained(n > 0 && static_cast<std::size_t>(n) < buf.size());
  return n < 0 ? 0 : static_cast<std::size_t>(n);
}

std::size_t StreamSocket::read_some(MutableBuffer buf, Deadline deadline) {
  std::error_code ec;
  const std::size_t n = read_some(buf, ec, deadline);
  throw_if(ec, "spindle::net read_some");
  return n;
}

void StreamSocket::wait_readable(std::error_code& ec, Deadline deadline) noexcept {
  ec.clear();
  if (!(short_read_drains_ && socket_.read_drained())) {
    // Bytes may be queued whose edge a poller has already reported: look first
    // (recv with MSG_PEEK takes nothing), and wait only when nothing is there.
    char byte;
    socket_.run(
        Socket::Dir::kRead, deadline, [&](int fd) -> long { return ::recv(fd, &byte, 1, MSG_PEEK); }, ec);
    return;
  }
  // The last read emptied the receive queue, so the next arrival brings an edge:
  // wait for it without a syscall, as read_some's wait_first does.
  bool after_drain = true;
  for (;;) {
    bool parked = false;
    const std::error_code wait_ec = socket_.wait(Socket::Dir::kRead, deadline, after_drain, &parked);
    if (wait_ec == std::errc::bad_file_descriptor) {
      ec = wait_ec;
      return;
    }
    if (!wait_ec && parked) break;  // an edge that came while we waited: readable
    // An edge that came before we waited (io_uring's poll events often describe
    // bytes the last read has taken since), a hang-up or error (after_drain), a
    // deadline or a stop request: look, without waiting.
    bool empty = false;
    char byte;
    socket_.run(Socket::Dir::kRead, deadline, [&](int fd) -> long {
      const long n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        empty = true;
        return 0;
      }
      return n;
    }, ec);
    if (ec || !empty) break;  // an error (this call reports it), bytes, or the end of the stream
    if (wait_ec) {            // nothing there and the deadline or stop stands
      ec = wait_ec;
      return;
    }
    // Nothing there: wait for the next edge. Each pass uses up one edge, so this
    // does not spin; a hang-up flag (urgent data with nothing else to read) must
    // not end the next wait at once.
    after_drain = false;
  }
  // The read after us must try recv first, not wait for another edge.
  socket_.set_read_drained(false);
}

void StreamSocket::wait_readable(Deadline deadline) {
  std::error_code ec;
  wait_readable(ec, deadline);
  throw_if(ec, "spindle::net wait_readable");
}

std::size_t StreamSocket::read_exact(MutableBuffer buf, std::error_code& ec, Deadline deadline) noexcept {
  auto* p = static_cast<unsigned char*>(buf.data());
  std::size_t done = 0;
  ec.clear();
  while (done < buf.size()) {
    const std::size_t n = read_some(MutableBuffer(p + done, buf.size() - done), ec, deadline);
    if (ec) return done;
    if (n == 0) {
      ec = Error::kEof;
      return done;
    }
    done += n;
  }
  return done;
}

void StreamSocket::read_exact(MutableBuffer buf, Deadline deadline) {
  std::error_code ec;
  read_exact(buf, ec, deadline);
  throw_if(ec, "spindle::net read_exact");
}

std::size_t StreamSocket::write_some(ConstBuffer buf, std::error_code& ec, Deadline deadline) noexcept {
  const long n = socket_.run(
      Socket::Dir::kWrite, deadline,
      [&](int fd) -> long { return ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL); }, ec);
  return n < 0 ? 0 : static_cast<std::size_t>(n);
}

std::size_t StreamSocket::write_some(ConstBuffer buf, Deadline deadline) {
  std::error_code ec;
  const std::size_t n = write_some(buf, ec, deadline);
  throw_if(ec, "spindle::net write_some");
  return n;
}

std::size_t StreamSocket::write_all(ConstBuffer buf, std::error_code& ec, Deadline deadline) noexcept {
  const auto* p = static_cast<const unsigned char*>(buf.data());
  std::size_t done = 0;
  ec.clear();
  while (done < buf.size()) {
    const std::size_t n = write_some(ConstBuffer(p + done, buf.size() - done), ec, deadline);
    if (ec) return done;
    done += n;
  }
  return done;
}

void StreamSocket::write_all(ConstBuffer buf, Deadline deadline) {
  std::error_code ec;
  write_all(buf, ec, deadline);
  throw_if(ec, "spindle::net write_all");
}

void StreamSocket::shutdown(Shutdown how, std::error_code& ec) noexcept {
  ec.clear();
  const int h = how == Shutdown::kRead ? SHUT_RD : how == Shutdown::kWrite ? SHUT_WR : SHUT_RDWR;
  // Through run() so that it holds a reference: the fd cannot be closed under it.
  socket_.run(Socket::Dir::kWrite, {}, [h](int fd) -> long { return ::shutdown(fd, h); }, ec);
}

void StreamSocket::shutdown(Shutdown how) {
  std::error_code ec;
  shutdown(how, ec);
  throw_if(ec, "spindle::net shutdown");
}

}  // namespace spindle::net
