// Unix-domain stream sockets: UnixListener and UnixStream, addressed by a
// filesystem path. Same calls and blocking rules as TCP (stream.h).
//
//   auto l = net::UnixListener::bind("/tmp/app.sock");
//   auto c = net::UnixStream::connect("/tmp/app.sock");
#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "spindle/io/deadline.h"
#include "spindle/io/socket.h"
#include "spindle/io/stream.h"

namespace spindle::net {

class UnixStream : public StreamSocket {
 public:
  // Not connected.
  UnixStream() = default;
  // Connects to the listener at `path`.
  static UnixStream connect(std::string_view path, Deadline deadline = {});
  static UnixStream connect(std::string_view path, std::error_code& ec, Deadline deadline = {}) noexcept;

 private:
  friend class UnixListener;
  explicit UnixStream(spindle::detail::Socket s) : StreamSocket(std::move(s), /*short_read_drains=*/false) {}
};

class UnixListener {
 public:
  // Not listening.
  UnixListener() = default;
  // Binds to `path` (which must not exist; the destructor does not remove it)
  // and listens.
  static UnixListener bind(std::string_view path, int backlog = 1024);
  static UnixListener bind(std::string_view path, std::error_code& ec, int backlog = 1024) noexcept;

  // Takes the next pending connection (blocking like TcpListener::accept).
  UnixStream accept(Deadline deadline = {});
  UnixStream accept(std::error_code& ec, Deadline deadline = {}) noexcept;

  // Stops listening; a blocked accept() fails with errc::bad_file_descriptor.
  void close() noexcept { socket_.close(); }
  // Whether it listens.
  bool is_open() const { return socket_.is_open(); }
  // The fd (-1 when closed). Do not close it.
  int native_handle() const { return socket_.fd(); }

 private:
  spindle::detail::Socket socket_;
};

}  // namespace spindle::net
