// UdpSocket: datagrams to and from Endpoints. send_to/recv_from block (the fiber,
// or a plain thread) like the stream calls (stream.h): deadline, stop request,
// close() from elsewhere, throwing and error_code forms.
//
//   auto sock = net::UdpSocket::bind(net::Endpoint::loopback_v4(0));
//   sock.send_to("ping", peer);
//   char buf[1500]; net::Endpoint from;
//   std::size_t n = sock.recv_from(buf, from, 1s);
#pragma once

#include <cstddef>
#include <system_error>

#include "spindle/io/buffer.h"
#include "spindle/io/deadline.h"
#include "spindle/io/endpoint.h"
#include "spindle/io/error.h"
#include "spindle/io/socket.h"

namespace spindle::net {

class UdpSocket {
 public:
  // Not bound.
  UdpSocket() = default;

  // A socket bound to `local` (port 0: any free port).
  static UdpSocket bind(const Endpoint& local);
  static UdpSocket bind(const Endpoint& local, std::error_code& ec) noexcept;

  // Sends one datagram of buf to `peer`; returns the bytes sent (all of buf).
  std::size_t send_to(ConstBuffer buf, const Endpoint& peer, Deadline deadline = {});
  std::size_t send_to(ConstBuffer buf, const Endpoint& peer, std::error_code& ec, Deadline deadline = {}) noexcept;

  // Receives one datagram into buf (a longer one is truncated to buf.size());
  // sets `from` to its sender and returns its length.
  std::size_t recv_from(MutableBuffer buf, Endpoint& from, Deadline deadline = {});
  std::size_t recv_from(MutableBuffer buf, Endpoint& from, std::error_code& ec, Deadline deadline = {}) noexcept;

  // The bound address (with the chosen port).
  Endpoint local_endpoint() const;

  // Closes; blocked calls fail with errc::bad_file_descriptor.
  void close() noexcept { socket_.close(); }
  // Whether it is open.
  bool is_open() const { return socket_.is_open(); }
  // Default deadlines of calls that give none (see StreamSocket).
  void set_read_deadline(Deadline d) { socket_.set_deadline(spindle::detail::Socket::Dir::kRead, d); }
  void set_write_deadline(Deadline d) { socket_.set_deadline(spindle::detail::Socket::Dir::kWrite, d); }
  // The fd (-1 when closed). Do not close it.
  int native_handle() const { return socket_.fd(); }

 private:
  spindle::detail::Socket socket_;
};

}  // namespace spindle::net
