#include "io/sockaddr.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace spindle::net::detail {

using spindle::detail::Socket;

Endpoint endpoint_of(int fd, bool peer, std::error_code& ec) noexcept {
  ec.clear();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                     : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r != 0) {
    ec.assign(errno, std::system_category());
    return {};
  }
  auto e = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  if (!e) {
    ec = std::make_error_code(std::errc::address_family_not_supported);
    return {};
  }
  return *e;
}

Socket make_socket(int family, int type, std::error_code& ec) noexcept {
  ec.clear();
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec.assign(errno, std::system_category());
    return {};
  }
  return Socket(fd, ec);
}

void connect_socket(Socket& s, const sockaddr* addr, socklen_t len, Deadline deadline, std::error_code& ec) noexcept {
  ec.clear();
  if (::connect(s.fd(), addr, len) == 0) return;
  if (errno != EINPROGRESS && errno != EINTR) {
    ec.assign(errno, std::system_category());
    return;
  }
  for (;;) {
    ec = s.wait(Socket::Dir::kWrite, deadline);
    if (ec) return;
    int err = 0;
    socklen_t elen = sizeof err;
    if (::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
    if (err == EINPROGRESS || err == EALREADY) continue;  // an early edge: keep waiting
    if (err != 0) {
      ec.assign(err, std::system_category());
      return;
    }
    // Writable with no error: connected — unless the edge was for something else,
    // which getpeername tells.
    sockaddr_storage ss;
    socklen_t plen = sizeof ss;
    if (::getpeername(s.fd(), reinterpret_cast<sockaddr*>(&ss), &plen) == 0) return;
    if (errno != ENOTCONN) {
      ec.assign(errno, std::system_category());
      return;
    }
  }
}

Socket accept_socket(Socket& listener, Deadline deadline, std::error_code& ec) noexcept {
  const long fd = listener.run(
      Socket::Dir::kRead, deadline,
      [](int lfd) -> long { return ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); }, ec);
  if (fd < 0) return {};
  return Socket(static_cast<int>(fd), ec);
}

}  // namespace spindle::net::detail
