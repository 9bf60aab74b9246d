// Helpers for the io tests (loopback only).
#pragma once

#include <sys/resource.h>
#include <sys/socket.h>

#include <cstdlib>
#include <string>

namespace spindle::io_test {

// SPINDLE_IO_TEST_SCALE divides connection counts (default 1).
inline int scaled(int n) {
  const char* s = std::getenv("SPINDLE_IO_TEST_SCALE");
  const int k = s != nullptr ? std::atoi(s) : 1;
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

inline void set_buffers(int fd, int rcv, int snd) {
  if (rcv > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (snd > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
}

}  // namespace spindle::io_test
