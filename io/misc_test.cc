// UDP and Unix-domain sockets on fibers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/io/tcp.h"
#include "spindle/io/udp.h"
#include "spindle/io/unix.h"
#include "spindle/sched/scheduler.h"

namespace net = spindle::net;
using namespace std::chrono_literals;

TEST(Udp, SendToAndRecvFromOnFibers) {
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone});
  for (auto where : {net::Endpoint::loopback_v4(0), net::Endpoint::loopback_v6(0)}) {
    spindle::spawn(sched, [where] {
      auto a = net::UdpSocket::bind(where);
      auto b = net::UdpSocket::bind(where);
      auto echo = spindle::spawn([&] {
        char buf[64];
        net::Endpoint from;
        const std::size_t n = b.recv_from(buf, from, 10s);  // parks until the datagram comes
        b.send_to(net::ConstBuffer(buf, n), from);
        return from;
      });
      a.send_to("datagram", b.local_endpoint());
      char got[64];
      net::Endpoint from;
      const std::size_t n = a.recv_from(got, from, 10s);
      EXPECT_EQ(std::string(got, n), "datagram");
      EXPECT_EQ(from, b.local_endpoint());
      EXPECT_EQ(echo.join(), a.local_endpoint());
      std::error_code ec;
      a.recv_from(got, from, ec, 20ms);
      EXPECT_EQ(ec, std::errc::timed_out);
    }).join();
  }
}

TEST(Unix, StreamEchoOnFibers) {
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone});
  // Not under TEST_TMPDIR: a socket path must fit in sun_path's 108 bytes.
  const std::string path = "/tmp/spindle_unix_" + std::to_string(getpid()) + ".sock";
  ::unlink(path.c_str());
  spindle::spawn(sched, [&] {
    auto l = net::UnixListener::bind(path);
    auto server = spindle::spawn([&] {
      auto c = l.accept(10s);
      char buf[5];
      c.read_exact(buf);
      c.write_all(net::ConstBuffer(buf, 5));
      char eof;
      return c.read_some(net::MutableBuffer(&eof, 1));
    });
    auto c = net::UnixStream::connect(path);
    c.write_all("unix!");
    char buf[5];
    c.read_exact(buf, 10s);
    EXPECT_EQ(std::string(buf, 5), "unix!");
    c.close();
    EXPECT_EQ(server.join(), 0u);
  }).join();
  ::unlink(path.c_str());
}

// A socket outlives the Scheduler whose poller it was registered with: the
// destroyed poller lets go of it, and waits on it work afterwards, on another
// Scheduler's fibers (registered anew there) and on a plain thread (poll(2)).
TEST(Socket, OutlivesItsScheduler) {
  auto listener = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
  auto client = net::TcpStream::connect(listener.local_endpoint());
  auto server = listener.accept();
  char buf[16];
  {
    spindle::Scheduler first({.workers = 2, .pinning = spindle::Pinning::kNone});
    spindle::spawn(first, [&] {
      std::error_code ec;
      server.read_some(buf, ec, 20ms);  // nothing sent: parks in `first`'s poller
      EXPECT_EQ(ec, std::errc::timed_out);
    }).join();
  }
  spindle::Scheduler second({.workers = 2, .pinning = spindle::Pinning::kNone});
  spindle::spawn(second, [&] {
    std::error_code ec;
    server.read_some(buf, ec, 20ms);  // parks in `second`'s poller
    EXPECT_EQ(ec, std::errc::timed_out);
    auto writer = spindle::spawn([&] {
      spindle::this_fiber::sleep_for(20ms);
      client.write_all("after");
    });
    server.read_exact(net::MutableBuffer(buf, 5), 10s);
    EXPECT_EQ(std::string(buf, 5), "after");
    writer.join();
  }).join();
  std::error_code ec;
  server.read_some(buf, ec, 20ms);  // a plain thread: poll(2)
  EXPECT_EQ(ec, std::errc::timed_out);
  client.write_all("thread");
  server.read_exact(net::MutableBuffer(buf, 6), 10s);
  EXPECT_EQ(std::string(buf, 6), "thread");
}
