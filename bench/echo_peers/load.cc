// The echo benchmark's load generator (the same for every server): N loopback
// connections, each sending a fixed-size message and waiting for the whole echo
// before sending the next (ping-pong), for a fixed duration. Driven by T threads,
// each with its own epoll set. Prints one line:
//   requests=<n> seconds=<s> rps=<r> p50_us=<x> p99_us=<y> errors=<e>
// With --hold=S it then keeps every connection open and silent for S seconds
// before closing them (after printing the line, so a caller can measure the
// server with N idle connections; bench/echo.sh does).
//
//   load --port=9000 --conns=256 --seconds=5 --size=512 --threads=1 [--hold=S]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Conn {
  int fd = -1;
  std::size_t sent = 0, received = 0;
  Clock::time_point started;
};

struct Result {
  std::uint64_t requests = 0, errors = 0;
  std::vector<std::uint32_t> latency_ns;  // a sample of every request, capped
};

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void drive(std::vector<Conn>& conns, std::size_t size, Clock::time_point until, Result& r) {
  const int ep = ::epoll_create1(0);
  std::vector<char> out(size, 'x'), in(size);
  auto send_some = [&](Conn& c) {
    while (c.sent < size) {
      const ssize_t n = ::send(c.fd, out.data() + c.sent, size - c.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN) ++r.errors;
        return;
      }
      c.sent += static_cast<std::size_t>(n);
    }
  };
  for (std::size_t i = 0; i < conns.size(); ++i) {
    Conn& c = conns[i];
    ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    c.started = Clock::now();
    send_some(c);
  }
  epoll_event events[256];
  while (Clock::now() < until) {
    const int n = ::epoll_wait(ep, events, 256, 100);
    for (int k = 0; k < n; ++k) {
      Conn& c = conns[events[k].data.u64];
      for (;;) {
        const ssize_t got = ::recv(c.fd, in.data(), size - c.received, 0);
        if (got <= 0) {
          if (got == 0 || errno != EAGAIN) ++r.errors;
          break;
        }
        c.received += static_cast<std::size_t>(got);
        if (c.received == size) {
          const auto now = Clock::now();
          ++r.requests;
          if (r.latency_ns.size() < (4u << 20)) {
            r.latency_ns.push_back(static_cast<std::uint32_t>(
                std::min<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.started).count(),
                                       UINT32_MAX)));
          }
          c.sent = c.received = 0;
          c.started = now;
          send_some(c);
          break;
        }
      }
      if (c.sent < size) send_some(c);  // a partial send: finish it (rare at 512 bytes)
    }
  }
  ::close(ep);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 9000, conns = 16, threads = 1;
  double seconds = 5, hold = 0;
  std::size_t size = 512;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--port=", 7) == 0) port = std::atoi(argv[i] + 7);
    else if (std::strncmp(argv[i], "--conns=", 8) == 0) conns = std::atoi(argv[i] + 8);
    else if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = std::atoi(argv[i] + 10);
    else if (std::strncmp(argv[i], "--seconds=", 10) == 0) seconds = std::atof(argv[i] + 10);
    else if (std::strncmp(argv[i], "--hold=", 7) == 0) hold = std::atof(argv[i] + 7);
    else if (std::strncmp(argv[i], "--size=", 7) == 0) size = static_cast<std::size_t>(std::atol(argv[i] + 7));
    else return std::fprintf(stderr, "usage: load --port=N [--conns=N] [--seconds=S] [--size=B] [--threads=N] [--hold=S]\n"), 2;
  }
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  threads = std::max(1, std::min(threads, conns));
  std::vector<std::vector<Conn>> groups(static_cast<std::size_t>(threads));
  for (int i = 0; i < conns; ++i) groups[static_cast<std::size_t>(i % threads)].push_back(Conn{connect_to(port)});
  std::vector<Result> results(static_cast<std::size_t>(threads));
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] { drive(groups[static_cast<std::size_t>(t)], size, until, results[static_cast<std::size_t>(t)]); });
  }
  for (auto& t : ts) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  Result all;
  for (auto& r : results) {
    all.requests += r.requests;
    all.errors += r.errors;
    all.latency_ns.insert(all.latency_ns.end(), r.latency_ns.begin(), r.latency_ns.end());
  }
  auto pct = [&](double p) -> double {
    if (all.latency_ns.empty()) return 0;
    const std::size_t k = static_cast<std::size_t>(p * static_cast<double>(all.latency_ns.size() - 1));
    std::nth_element(all.latency_ns.begin(), all.latency_ns.begin() + static_cast<std::ptrdiff_t>(k), all.latency_ns.end());
    return all.latency_ns[k] / 1000.0;
  };
  const double p50 = pct(0.50), p99 = pct(0.99);
  std::printf("requests=%llu seconds=%.2f rps=%.0f p50_us=%.1f p99_us=%.1f errors=%llu\n",
              static_cast<unsigned long long>(all.requests), elapsed, static_cast<double>(all.requests) / elapsed, p50,
              p99, static_cast<unsigned long long>(all.errors));
  std::fflush(stdout);
  if (hold > 0) std::this_thread::sleep_for(std::chrono::duration<double>(hold));
  for (auto& g : groups)
    for (auto& c : g) ::close(c.fd);
  return all.errors == 0 ? 0 : 1;
}
