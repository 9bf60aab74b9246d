// Helpers shared by the socket types: endpoints of an fd, socket creation.
#pragma once

#include <sys/socket.h>

#include <system_error>

#include "spindle/io/endpoint.h"
#include "spindle/io/socket.h"

namespace spindle::net::detail {

// getsockname / getpeername of `fd` as an Endpoint.
Endpoint endpoint_of(int fd, bool peer, std::error_code& ec) noexcept;
// A new non-blocking, close-on-exec socket wrapped in a detail::Socket.
spindle::detail::Socket make_socket(int family, int type, std::error_code& ec) noexcept;
// Non-blocking connect(2): starts, waits for writability, reads SO_ERROR.
void connect_socket(spindle::detail::Socket& s, const sockaddr* addr, socklen_t len, Deadline deadline,
                    std::error_code& ec) noexcept;
// accept4(2) on a listening socket, blocking the caller as the other calls do.
spindle::detail::Socket accept_socket(spindle::detail::Socket& listener, Deadline deadline,
                                      std::error_code& ec) noexcept;

}  // namespace spindle::net::detail
