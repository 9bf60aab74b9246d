// 10,000 concurrent connections, each served by its own fiber. The clients run
// in a forked child (its own fd table: both ends in one process would need more
// than the 20,000 fds the hard limit allows here). SPINDLE_IO_TEST_SCALE divides
// the count (test_util.h).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "io/test_util.h"
#include "spindle/fibers/spawn.h"
#include "spindle/io/tcp.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/event.h"

namespace net = spindle::net;
using namespace std::chrono_literals;

namespace {

// The child: n client fibers; each sends its number, expects it back, then holds
// the connection until the server closes it. Exit status 0 if all did.
int run_clients(net::Endpoint server, int n) {
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "clients"});
  std::atomic<int> ok{0};
  std::vector<spindle::JoinHandle<void>> clients;
  clients.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    clients.push_back(spindle::spawn(sched, [&, i] {
      std::error_code ec;
      auto c = net::TcpStream::connect(server, ec, 120s);
      if (ec) return;
      std::uint64_t v = static_cast<std::uint64_t>(i), back = 0;
      c.write_all(net::ConstBuffer(&v, sizeof v), ec, 120s);
      if (ec) return;
      c.read_exact(net::MutableBuffer(&back, sizeof back), ec, 120s);
      if (ec || back != v) return;
      char eof;
      if (c.read_some(net::MutableBuffer(&eof, 1), ec, 120s) == 0 && !ec) ok.fetch_add(1);
    }));
  }
  for (auto& c : clients) c.join();
  if (ok.load() != n) std::fprintf(stderr, "clients: %d of %d completed\n", ok.load(), n);
  return ok.load() == n ? 0 : 1;
}

}  // namespace

TEST(ManyConnections, EachServedByItsOwnFiberAllAtOnce) {
  const int n = spindle::io_test::scaled(10000);
  const long limit = spindle::io_test::raise_fd_limit(n + 200);
  ASSERT_GE(limit, n + 50) << "RLIMIT_NOFILE hard limit too low";
  auto listener = net::TcpListener::bind(net::Endpoint::loopback_v4(0), 4096);
  const net::Endpoint where = listener.local_endpoint();
  // Forked before this process starts any thread.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    listener.close();
    _exit(run_clients(where, n));
  }

  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "server"});
  std::atomic<int> echoed{0}, peak_alive{0}, alive{0};
  spindle::Event all_echoed;
  auto acceptor = spindle::spawn(sched, [&] {
    std::vector<spindle::JoinHandle<bool>> conns;
    conns.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      net::TcpStream s = listener.accept(120s);
      conns.push_back(spindle::spawn([&, s = std::move(s)]() mutable {
        const int now = alive.fetch_add(1) + 1;
        int peak = peak_alive.load();
        while (now > peak && !peak_alive.compare_exchange_weak(peak, now)) {
        }
        std::uint64_t v;
        std::error_code ec;
        s.read_exact(net::MutableBuffer(&v, sizeof v), ec, 120s);
        if (!ec) s.write_all(net::ConstBuffer(&v, sizeof v), ec, 120s);
        if (echoed.fetch_add(1) + 1 == n) all_echoed.set();
        all_echoed.wait();  // every connection stays open until all have echoed
        alive.fetch_sub(1);
        return !ec;
      }));
    }
    int good = 0;
    for (auto& c : conns) good += c.join() ? 1 : 0;
    return good;
  });
  EXPECT_EQ(acceptor.join(), n);
  EXPECT_EQ(peak_alive.load(), n);  // all n fibers were alive (and blocked) at once
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "client process status " << status;
}
