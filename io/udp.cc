#include "spindle/io/udp.h"

#include <sys/socket.h>

#include <cerrno>

#include "io/sockaddr.h"

namespace spindle::net {

using detail::throw_if;
using spindle::detail::Socket;

UdpSocket UdpSocket::bind(const Endpoint& local, std::error_code& ec) noexcept {
  UdpSocket u;
  u.socket_ = detail::make_socket(local.family(), SOCK_DGRAM, ec);
  if (ec) return {};
  if (::bind(u.socket_.fd(), local.data(), local.size()) != 0) {
    ec.assign(errno, std::system_category());
    return {};
  }
  return u;
}

UdpSocket UdpSocket::bind(const Endpoint& local) {
  std::error_code ec;
  UdpSocket u = bind(local, ec);
  throw_if(ec, "spindle::net::UdpSocket::bind");
  return u;
}

std::size_t UdpSocket::send_to(ConstBuffer buf, const Endpoint& peer, std::error_code& ec, Deadline deadline) noexcept {
  const long n = socket_.run(
      Socket::Dir::kWrite, deadline,
      [&](int fd) -> long { return ::sendto(fd, buf.data(), buf.size(), MSG_NOSIGNAL, peer.data(), peer.size()); },
      ec);
  return n < 0 ? 0 : static_cast<std::size_t>(n);
}

std::size_t UdpSocket::send_to(ConstBuffer buf, const Endpoint& peer, Deadline deadline) {
  std::error_code ec;
  const std::size_t n = send_to(buf, peer, ec, deadline);
  throw_if(ec, "spindle::net::UdpSocket::send_to");
  return n;
}

std::size_t UdpSocket::recv_from(MutableBuffer buf, Endpoint& from, std::error_code& ec, Deadline deadline) noexcept {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const long n = socket_.run(
      Socket::Dir::kRead, deadline,
      [&](int fd) -> long {
        len = sizeof ss;
        return ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
      },
      ec);
  if (n < 0) return 0;
  if (auto e = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len)) from = *e;
  return static_cast<std::size_t>(n);
}

std::size_t UdpSocket::recv_from(MutableBuffer buf, Endpoint& from, Deadline deadline) {
  std::error_code ec;
  const std::size_t n = recv_from(buf, from, ec, deadline);
  throw_if(ec, "spindle::net::UdpSocket::recv_from");
  return n;
}

Endpoint UdpSocket::local_endpoint() const {
  std::error_code ec;
  Endpoint e = detail::endpoint_of(socket_.fd(), false, ec);
  throw_if(ec, "spindle::net::UdpSocket::local_endpoint");
  return e;
}

}  // namespace spindle::net
