// TCP: TcpListener (bind, accept) and TcpStream (connect, read, write). A fiber
// per connection, written as plain blocking code; the fiber parks while its
// socket is not ready and its worker runs other fibers (see stream.h for what
// every blocking call does on a fiber, on a plain thread, at its deadline, on a
// stop request and on close()).
//
//   auto listener = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
//   spindle::spawn([&] {
//     for (;;) {
//       net::TcpStream conn = listener.accept();
//       spindle::spawn([c = std::move(conn)]() mutable {
//         char buf[512];
//         while (std::size_t n = c.read_some(buf)) c.write_all(net::ConstBuffer(buf, n));
//       }).detach();
//     }
//   }).detach();
#pragma once

#include <system_error>

#include "spindle/io/deadline.h"
#include "spindle/io/endpoint.h"
#include "spindle/io/socket.h"
#include "spindle/io/stream.h"

namespace spindle::net {

class TcpStream : public StreamSocket {
 public:
  // Not connected (is_open() is false).
  TcpStream() = default;

  // Connects to `peer`. Blocks (the fiber, or a plain thread) until connected,
  // refused, or past `deadline` (errc::timed_out).
  static TcpStream connect(const Endpoint& peer, Deadline deadline = {});
  static TcpStream connect(const Endpoint& peer, std::error_code& ec, Deadline deadline = {}) noexcept;

  // TCP_NODELAY: send small writes at once instead of coalescing them (Nagle).
  void set_nodelay(bool on);
  void set_nodelay(bool on, std::error_code& ec) noexcept;

  // This end's and the peer's address.
  Endpoint local_endpoint() const;
  Endpoint local_endpoint(std::error_code& ec) const noexcept;
  Endpoint peer_endpoint() const;
  Endpoint peer_endpoint(std::error_code& ec) const noexcept;

 private:
  friend class TcpListener;
  explicit TcpStream(spindle::detail::Socket s) : StreamSocket(std::move(s), /*short_read_drains=*/true) {}
};

class TcpListener {
 public:
  // Not listening.
  TcpListener() = default;

  // Binds to `local` (SO_REUSEADDR on; port 0 picks a free port, see
  // local_endpoint()) and listens with room for `backlog` pending connections.
  static TcpListener bind(const Endpoint& local, int backlog = 1024);
  static TcpListener bind(const Endpoint& local, std::error_code& ec, int backlog = 1024) noexcept;

  // Takes the next pending connection, blocking (the fiber, or a plain thread)
  // until one arrives, until `deadline`, a stop request or close().
  TcpStream accept(Deadline deadline = {});
  TcpStream accept(std::error_code& ec, Deadline deadline = {}) noexcept;

  // The address it listens on (with the chosen port).
  Endpoint local_endpoint() const;
  Endpoint local_endpoint(std::error_code& ec) const noexcept;

  // Stops listening; a blocked accept() fails with errc::bad_file_descriptor.
  void close() noexcept { socket_.close(); }
  // Whether it listens.
  bool is_open() const { return socket_.is_open(); }
  // Default deadline of accept() calls that give none.
  void set_deadline(Deadline deadline) { socket_.set_deadline(spindle::detail::Socket::Dir::kRead, deadline); }
  // The fd (-1 when closed). Do not close it.
  int native_handle() const { return socket_.fd(); }

 private:
  spindle::detail::Socket socket_;
};

}  // namespace spindle::net
