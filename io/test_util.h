// Helpers for the io tests (loopback only).
#pragma once

#include <sys/resource.h>
#include <sys/socket.h>

#include <cstdlib>
#include <string>

#include "spindle/io/tcp.h"

namespace spindle::io_test {

// The one knob of the many-connection tests: SPINDLE_IO_TEST_SCALE divides their
// connection counts. Default 1; under ThreadSanitizer 20 (each fiber costs TSan
// tens of milliseconds there: 10,000 connections, 20,000 fibers, would take half an
// hour); under AddressSanitizer 4. Setting the variable overrides the default in every build.
#if defined(__SANITIZE_THREAD__)
inline constexpr int kDefaultScale = 20;
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr int kDefaultScale = 4;  // ASan: 2,500 connections (170+ s at full scale)
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr int kDefaultScale = 20;
#elif __has_feature(address_sanitizer)
inline constexpr int kDefaultScale = 4;
#else
inline constexpr int kDefaultScale = 1;
#endif
#else
inline constexpr int kDefaultScale = 1;
#endif

inline int scaled(int n) {
  const char* s = std::getenv("SPINDLE_IO_TEST_SCALE");
  const int k = s != nullptr ? std::atoi(s) : kDefaultScale;
  return k > 1 ? n / k : n;
}

// Raises the soft RLIMIT_NOFILE towards `want` (at most the hard limit); returns
// the soft limit in force.
inline long raise_fd_limit(long want) {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < static_cast<rlim_t>(want)) {
    r.rlim_cur = std::min<rlim_t>(static_cast<rlim_t>(want), r.rlim_max);
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
  }
  return static_cast<long>(r.rlim_cur);
}

// A connected TCP pair on loopback: `server` accepted from a fresh listener.
struct TcpPair {
  net::TcpStream client, server;
};

inline TcpPair connect_pair(const net::Endpoint& where = net::Endpoint::loopback_v4(0)) {
  auto l = net::TcpListener::bind(where);
  TcpPair p;
  p.client = net::TcpStream::connect(l.local_endpoint());
  p.server = l.accept();
  return p;
}

inline void set_buffers(int fd, int rcv, int snd) {
  if (rcv > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (snd > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
}

}  // namespace spindle::io_test
