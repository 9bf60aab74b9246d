#include "spindle/io/unix.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "io/sockaddr.h"

namespace spindle::net {

using detail::throw_if;

namespace {
bool make_addr(std::string_view path, sockaddr_un& a, std::error_code& ec) {
  a = {};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) {
    ec = std::make_error_code(std::errc::filename_too_long);
    return false;
  }
  std::memcpy(a.sun_path, path.data(), path.size());
  return true;
}
}  // namespace

UnixStream UnixStream::connect(std::string_view path, std::error_code& ec, Deadline deadline) noexcept {
  sockaddr_un a;
  if (!make_addr(path, a, ec)) return {};
  spindle::detail::Socket s = detail::make_socket(AF_UNIX, SOCK_STREAM, ec);
  if (ec) return {};
  detail::connect_socket(s, reinterpret_cast<sockaddr*>(&a), sizeof a, deadline, ec);
  if (ec) return {};
  return UnixStream(std::move(s));
}

UnixStream UnixStream::connect(std::string_view path, Deadline deadline) {
  std::error_code ec;
  UnixStream s = connect(path, ec, deadline);
  throw_if(ec, "spindle::net::UnixStream::connect");
  return s;
}

UnixListener UnixListener::bind(std::string_view path, std::error_code& ec, int backlog) noexcept {
  sockaddr_un a;
  if (!make_addr(path, a, ec)) return {};
  UnixListener l;
  l.socket_ = detail::make_socket(AF_UNIX, SOCK_STREAM, ec);
  if (ec) return {};
  if (::bind(l.socket_.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(l.socket_.fd(), backlog) != 0) {
    ec.assign(errno, std::system_category());
    return {};
  }
  return l;
}

UnixListener UnixListener::bind(std::string_view path, int backlog) {
  std::error_code ec;
  UnixListener l = bind(path, ec, backlog);
  throw_if(ec, "spindle::net::UnixListener::bind");
  return l;
}

UnixStream UnixListener::accept(std::error_code& ec, Deadline deadline) noexcept {
  spindle::detail::Socket s = detail::accept_socket(socket_, deadline, ec);
  if (ec) return {};
  return UnixStream(std::move(s));
}

UnixStream UnixListener::accept(Deadline deadline) {
  std::error_code ec;
  UnixStream s = accept(ec, deadline);
  throw_if(ec, "spindle::net::UnixListener::accept");
  return s;
}

}  // namespace spindle::net
