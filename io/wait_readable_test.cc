// StreamSocket::wait_readable as a server for many idle connections uses it: wait,
// then take a buffer from the heap, read, reply, give the buffer back. It must read
// nothing, never sleep through bytes that are there (after a short read it waits
// for an edge without a syscall), and report the end of the stream, deadlines and
// errors. (Stop requests and close() during it: tcp_test's Interrupt; bytes and
// hang-ups that came with the data: tcp_test's AfterAShortRead.)
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/io/tcp.h"
#include "spindle/sched/scheduler.h"

namespace net = spindle::net;
using namespace std::chrono_literals;

namespace {

struct Pair {
  net::TcpStream client, server;
};

Pair connect_pair() {
  auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
  Pair p;
  p.client = net::TcpStream::connect(l.local_endpoint());
  p.server = l.accept();
  return p;
}

spindle::Scheduler& sched() {
  static spindle::Scheduler* s =
      new spindle::Scheduler({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "wait-readable"});
  return *s;
}

// The echo loop of examples/echo_server: no buffer held while the connection is
// idle. Every call has a 20 s deadline, so a lost wake-up fails the test with
// timed_out instead of hanging it. Returns how the loop ended.
std::error_code serve(net::TcpStream& c) {
  std::error_code ec;
  for (;;) {
    c.wait_readable(ec, 20s);
    if (ec) return ec;
    auto buf = std::make_unique_for_overwrite<char[]>(4096);
    const std::size_t n = c.read_some(net::MutableBuffer(buf.get(), 4096), ec, 20s);
    if (ec || n == 0) return ec;
    if (c.write_all(net::ConstBuffer(buf.get(), n), ec, 20s); ec) return ec;
  }
}

}  // namespace

// Many request/reply rounds of varying sizes (short reads, and reads that fill the
// buffer and leave bytes behind), with a second idle connection keeping a worker
// blocked in the poller so that edges are read while the server's fiber runs.
TEST(WaitReadable, AnEchoLoopServesEveryByteAndSeesTheEnd) {
  spindle::spawn(sched(), [] {
    auto [c, s] = connect_pair();
    auto [idle_c, idle_s] = connect_pair();
    auto idler = spindle::spawn([&idle_s] {
      std::error_code ec;
      idle_s.wait_readable(ec, 60s);
      return ec;
    });
    auto server = spindle::spawn([&s] { return serve(s); });
    std::string out, in;
    std::vector<char> buf(9000);
    for (int round = 0; round < 2000; ++round) {
      const std::size_t size = 1 + static_cast<std::size_t>(round * 977) % 8192;  // 1 .. 8192 bytes
      out.assign(size, static_cast<char>('a' + round % 26));
      c.write_all(out);
      std::error_code ec;
      c.read_exact(net::MutableBuffer(buf.data(), size), ec, 20s);
      ASSERT_FALSE(ec) << "round " << round << ": " << ec.message();
      ASSERT_EQ(std::string(buf.data(), size), out) << "round " << round;
    }
    c.shutdown(net::Shutdown::kWrite);
    EXPECT_FALSE(server.join()) << "the server's loop should end at the end of the stream, with no error";
    idle_c.close();
    EXPECT_FALSE(idler.join()) << "the peer's close is readable (the end of the stream)";
  }).join();
}

TEST(WaitReadable, ReadsNothing) {
  spindle::spawn(sched(), [] {
    auto [c, s] = connect_pair();
    auto sender = spindle::spawn([&c] {
      spindle::this_fiber::sleep_for(20ms);  // the server is waiting by then
      c.write_all("abc");
    });
    s.wait_readable(5s);
    s.wait_readable(5s);  // still readable: nothing was taken
    char buf[8];
    std::size_t got = 0;
    while (got < 3) got += s.read_some(net::MutableBuffer(buf + got, sizeof buf - got), 5s);
    EXPECT_EQ(std::string(buf, got), "abc");
    sender.join();
  }).join();
}

TEST(WaitReadable, DeadlinesAndResetsAreReported) {
  spindle::spawn(sched(), [] {
    auto [c, s] = connect_pair();
    std::error_code ec;
    auto t0 = spindle::Clock::now();
    s.wait_readable(ec, 30ms);  // nothing sent
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_GE(spindle::Clock::now() - t0, 30ms);
    EXPECT_THROW(s.wait_readable(10ms), std::system_error);
    c.write_all("x");
    char b;
    ASSERT_EQ(s.read_some(net::MutableBuffer(&b, 1), 5s), 1u);
    s.wait_readable(ec, 30ms);  // after the read took everything: the edge wait's deadline
    EXPECT_EQ(ec, std::errc::timed_out);
    s.set_read_deadline(20ms);  // the socket's default deadline applies too
    s.wait_readable(ec);
    EXPECT_EQ(ec, std::errc::timed_out);
    s.set_read_deadline({});
    const linger lg{1, 0};  // close() sends RST
    setsockopt(c.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    c.close();
    s.wait_readable(ec, 5s);
    EXPECT_EQ(ec, std::errc::connection_reset) << ec.message();
  }).join();
}

TEST(WaitReadable, OnAPlainThreadBlocksTheThread) {
  auto [c, s] = connect_pair();
  std::thread t([&c] {
    std::this_thread::sleep_for(30ms);
    c.write_all("z");
  });
  std::error_code ec;
  const auto t0 = spindle::Clock::now();
  s.wait_readable(ec, 5s);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_GE(spindle::Clock::now() - t0, 20ms);
  char b;
  EXPECT_EQ(s.read_some(net::MutableBuffer(&b, 1), 5s), 1u);
  t.join();
  s.wait_readable(ec, 20ms);
  EXPECT_EQ(ec, std::errc::timed_out);
}
