// The netpoller itself: stale events after fd reuse, idle CPU with many idle
// connections, and what ~Scheduler says about fibers blocked in I/O.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "io/epoll_poller.h"
#include "io/poll_desc.h"
#include "io/test_util.h"
#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/io/tcp.h"
#include "spindle/sched/scheduler.h"

namespace net = spindle::net;
using namespace std::chrono_literals;
namespace d = spindle::detail;

// An event the kernel reported for a closed fd may still sit in a poller's event
// array when the fd number — and the descriptor — are reused. Delivered late, it
// must not wake the new owner's fiber.
TEST(Poller, StaleEventAfterFdReuseWakesNobody) {
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "stale"});
  spindle::spawn(sched, [&] {
    int a[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
    d::PollDesc* old_desc = d::desc_open(a[0]);
    const std::uint32_t old_seq = old_desc->seq;
    {  // register it, as a first wait does
      std::error_code ec;
      ASSERT_TRUE(d::desc_acquire(old_desc, old_seq));
      EXPECT_EQ(d::desc_wait(old_desc, d::IoMode::kRead, spindle::Clock::now() + 1ms), std::errc::timed_out);
      d::desc_release(old_desc);
    }
    d::desc_close(old_desc, old_seq);
    close(a[1]);

    int b[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
    EXPECT_EQ(b[0], a[0]);  // the fd number is reused...
    d::PollDesc* desc = d::desc_open(b[0]);
    ASSERT_EQ(desc, old_desc);  // ...and so is the descriptor (LIFO free list)
    const std::uint32_t seq = desc->seq;
    ASSERT_NE(seq, old_seq);
    ASSERT_TRUE(d::desc_acquire(desc, seq));
    auto waiter = spindle::spawn([&] {
      const auto t0 = spindle::Clock::now();
      const std::error_code ec = d::desc_wait(desc, d::IoMode::kRead, spindle::Clock::now() + 20s);
      return std::make_pair(ec, spindle::Clock::now() - t0);
    });
    spindle::this_fiber::sleep_for(30ms);  // the new owner is parked now
    EXPECT_EQ(d::desc_ready(desc, old_seq, true, true), 0);  // the late, stale event
    spindle::this_fiber::sleep_for(30ms);
    EXPECT_EQ(d::desc_ready(desc, seq, true, false), 1);  // a current one wakes it
    auto [ec, waited] = waiter.join();
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_GE(waited, 55ms);  // it slept through the stale event
    d::desc_release(desc);
    d::desc_close(desc, seq);
    close(b[1]);
  }).join();
}

namespace {
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}
}  // namespace

// 1,000 open connections, a fiber blocked in read on each: the Scheduler sleeps.
TEST(Poller, IdleConnectionsCostNoCpu) {
  const int n = 1000;
  spindle::io_test::raise_fd_limit(2 * n + 100);
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "idle"});
  auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
  std::vector<net::TcpStream> clients;
  std::vector<spindle::JoinHandle<std::size_t>> readers;
  for (int i = 0; i < n; ++i) {
    clients.push_back(net::TcpStream::connect(l.local_endpoint()));
    readers.push_back(spindle::spawn(sched, [s = l.accept()]() mutable {
      char buf[8];
      return s.read_some(buf);  // blocks until its client goes away
    }));
  }
  std::this_thread::sleep_for(200ms);  // let every reader park
  const double c0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(2s);
  const double cpu = cpu_seconds() - c0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("idle CPU with %d idle connections: %.2f ms over %.2f s (%.3f%% of a core)\n", n, cpu * 1e3, wall,
              100 * cpu / wall);
  EXPECT_LT(cpu / wall, 0.01);
  clients.clear();  // EOF for every reader
  for (auto& r : readers) EXPECT_EQ(r.join(), 0u);
}

// ~Scheduler waits for fibers blocked in I/O, and its 5 s warning names them and
// what they wait on; closing their socket (here from a plain thread) ends them.
TEST(Poller, SchedulerShutdownNamesFibersBlockedInIo) {
  auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
  auto client = net::TcpStream::connect(l.local_endpoint());
  net::TcpStream server = l.accept();
  auto sched = std::make_unique<spindle::Scheduler>(
      spindle::SchedulerOptions{.workers = 2, .pinning = spindle::Pinning::kNone, .name = "shut"});
  std::atomic<bool> blocked{false};
  spindle::spawn(spindle::FiberOptions{.executor = sched.get(), .name = "stuck-reader"}, [&] {
    char buf[8];
    std::error_code ec;
    blocked = true;
    server.read_some(buf, ec);
    return ec;
  }).detach();
  while (!blocked) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(50ms);
  testing::internal::CaptureStderr();
  std::thread destroyer([&] { sched.reset(); });
  std::this_thread::sleep_for(6s);  // past the first warning
  server.close();  // ends the blocked read: the Scheduler can finish
  destroyer.join();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Scheduler 'shut' is being destroyed and still waits for 1 fiber"), std::string::npos) << err;
  EXPECT_NE(err.find("'stuck-reader' waits to read fd"), std::string::npos) << err;
}
