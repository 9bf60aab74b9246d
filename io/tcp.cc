#include "spindle/io/tcp.h"

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "io/sockaddr.h"

namespace spindle::net {

using detail::throw_if;

TcpStream TcpStream::connect(const Endpoint& peer, std::error_code& ec, Deadline deadline) noexcept {
  spindle::detail::Socket s = detail::make_socket(peer.family(), SOCK_STREAM, ec);
  if (ec) return {};
  detail::connect_socket(s, peer.data(), peer.size(), deadline, ec);
  if (ec) return {};
  return TcpStream(std::move(s));
}

TcpStream TcpStream::connect(const Endpoint& peer, Deadline deadline) {
  std::error_code ec;
  TcpStream s = connect(peer, ec, deadline);
  throw_if(ec, "spindle::net::TcpStream::connect");
  return s;
}

void TcpStream::set_nodelay(bool on, std::error_code& ec) noexcept {
  ec.clear();
  const int v = on ? 1 : 0;
  if (::setsockopt(native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) {
    ec.assign(errno, std::system_category());
  }
}

void TcpStream::set_nodelay(bool on) {
  std::error_code ec;
  set_nodelay(on, ec);
  throw_if(ec, "spindle::net::TcpStream::set_nodelay");
}

Endpoint TcpStream::local_endpoint(std::error_code& ec) const noexcept {
  return detail::endpoint_of(native_handle(), false, ec);
}
Endpoint TcpStream::local_endpoint() const {
  std::error_code ec;
  Endpoint e = local_endpoint(ec);
  throw_if(ec, "spindle::net::TcpStream::local_endpoint");
  return e;
}
Endpoint TcpStream::peer_endpoint(std::error_code& ec) const noexcept {
  return detail::endpoint_of(native_handle(), true, ec);
}
Endpoint TcpStream::peer_endpoint() const {
  std::error_code ec;
  Endpoint e = peer_endpoint(ec);
  throw_if(ec, "spindle::net::TcpStream::peer_endpoint");
  return e;
}

TcpListener TcpListener::bind(const Endpoint& local, std::error_code& ec, int backlog) noexcept {
  TcpListener l;
  l.socket_ = detail::make_socket(local.family(), SOCK_STREAM, ec);
  if (ec) return {};
  const int one = 1;
  ::setsockopt(l.socket_.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(l.socket_.fd(), local.data(), local.size()) != 0 || ::listen(l.socket_.fd(), backlog) != 0) {
    ec.assign(errno, std::system_category());
    return {};
  }
  return l;
}

TcpListener TcpListener::bind(const Endpoint& local, int backlog) {
  std::error_code ec;
  TcpListener l = bind(local, ec, backlog);
  throw_if(ec, "spindle::net::TcpListener::bind");
  return l;
}

TcpStream TcpListener::accept(std::error_code& ec, Deadline deadline) noexcept {
  spindle::detail::Socket s = detail::accept_socket(socket_, deadline, ec);
  if (ec) return {};
  return TcpStream(std::move(s));
}

TcpStream TcpListener::accept(Deadline deadline) {
  std::error_code ec;
  TcpStream s = accept(ec, deadline);
  throw_if(ec, "spindle::net::TcpListener::accept");
  return s;
}

Endpoint TcpListener::local_endpoint(std::error_code& ec) const noexcept {
  return detail::endpoint_of(socket_.fd(), false, ec);
}
Endpoint TcpListener::local_endpoint() const {
  std::error_code ec;
  Endpoint e = local_endpoint(ec);
  throw_if(ec, "spindle::net::TcpListener::local_endpoint");
  return e;
}

}  // namespace spindle::net
