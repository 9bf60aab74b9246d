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
