// TCP through spindle::net on a Scheduler (loopback only): data integrity with
// tiny socket buffers, EOF and half-close, reset, deadlines, stop requests and
// close() from another fiber during each blocking call, plain threads, migration.
#include "spindle/io/tcp.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <numeric>
#include <set>
#include <thread>
#include <vector>

#include "io/test_util.h"
#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/event.h"

namespace net = spindle::net;
using namespace std::chrono_literals;
using spindle::io_test::connect_pair;
using spindle::io_test::set_buffers;
using Pair = spindle::io_test::TcpPair;

namespace {

// A listener whose accept queue is full, so that a further connect() hangs (the
// kernel drops its SYNs). Holds the connections that filled it.
struct FullListener {
  net::TcpListener listener = net::TcpListener::bind(net::Endpoint::loopback_v4(0), 0);
  std::vector<net::TcpStream> fillers;
  FullListener() {
    // backlog 0 admits one pending connection; a few more in case of syncookies.
    for (int i = 0; i < 8; ++i) {
      std::error_code ec;
      auto s = net::TcpStream::connect(listener.local_endpoint(), ec, 200ms);
      if (ec) return;  // timed out: the queue is full
      fillers.push_back(std::move(s));
    }
  }
};

spindle::Scheduler& sched() {
  static spindle::Scheduler* s = new spindle::Scheduler({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "io"});
  return *s;
}

template <class F>
auto on_fiber(F&& f) {
  return spindle::spawn(sched(), std::forward<F>(f)).join();
}

}  // namespace

TEST(Tcp, EchoV4AndV6WithEndpoints) {
  for (auto where : {net::Endpoint::loopback_v4(0), net::Endpoint::loopback_v6(0)}) {
    on_fiber([where] {
      auto l = net::TcpListener::bind(where);
      auto server = spindle::spawn([&] {
        net::TcpStream c = l.accept();
        char buf[64];
        std::size_t n;
        while ((n = c.read_some(buf)) > 0) c.write_all(net::ConstBuffer(buf, n));
        return c.peer_endpoint();
      });
      auto c = net::TcpStream::connect(l.local_endpoint());
      c.set_nodelay(true);
      EXPECT_EQ(c.peer_endpoint(), l.local_endpoint());
      c.write_all("hello, fiber");
      char got[12];
      c.read_exact(got);
      EXPECT_EQ(std::string(got, 12), "hello, fiber");
      const net::Endpoint me = c.local_endpoint();
      c.shutdown();
      EXPECT_EQ(server.join(), me);
    });
  }
}

TEST(Tcp, PartialReadsAndWritesWithTinyBuffers) {
  on_fiber([] {
    auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
    // A small MSS (inherited by the accepted socket and announced to the client)
    // keeps tiny receive windows from stalling on the persist timer: loopback's
    // MSS is 64 KiB, far above a 2 KiB window.
    const int mss = 536;
    setsockopt(l.native_handle(), IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
    auto c = net::TcpStream::connect(l.local_endpoint());
    auto s = l.accept();
    set_buffers(c.native_handle(), 0, 1024);
    set_buffers(s.native_handle(), 1024, 0);
    std::vector<unsigned char> out(1 << 20);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<unsigned char>(i * 7 + (i >> 9));
    auto writer = spindle::spawn([&] {
      c.write_all(out);  // far more than both buffers: many partial sends and waits
      c.shutdown();
    });
    std::vector<unsigned char> in;
    std::size_t reads = 0;
    unsigned char buf[3000];
    while (std::size_t n = s.read_some(buf)) {
      in.insert(in.end(), buf, buf + n);
      ++reads;
    }
    writer.join();
    EXPECT_GT(reads, 100u);  // it did arrive in pieces
    EXPECT_TRUE(in == out);
  });
}

TEST(Tcp, HalfCloseThenEof) {
  on_fiber([] {
    auto [c, s] = connect_pair();
    c.write_all("request");
    c.shutdown(net::Shutdown::kWrite);
    char buf[7];
    s.read_exact(buf);
    char more;
    EXPECT_EQ(s.read_some(net::MutableBuffer(&more, 1)), 0u);  // EOF after the data
    s.write_all("reply");  // the other direction still works
    s.close();
    char r[5];
    c.read_exact(r);
    EXPECT_EQ(std::string(r, 5), "reply");
    std::error_code ec;
    char tail[4];
    EXPECT_EQ(c.read_exact(tail, ec), 0u);
    EXPECT_EQ(ec, net::Error::kEof);
  });
}

TEST(Tcp, PeerResetIsReported) {
  on_fiber([] {
    auto [c, s] = connect_pair();
    const linger lg{1, 0};  // close() sends RST
    setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    auto reader = spindle::spawn([&c] {
      std::error_code ec;
      char buf[16];
      c.read_some(buf, ec, 10s);  // blocked when the reset arrives
      return ec;
    });
    spindle::this_fiber::sleep_for(20ms);
    s.close();
    EXPECT_EQ(reader.join(), std::errc::connection_reset);
  });
}

TEST(Tcp, DeadlinesExpire) {
  on_fiber([] {
    std::error_code ec;
    // accept with nobody connecting
    auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
    auto t0 = spindle::Clock::now();
    l.accept(ec, 30ms);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_GE(spindle::Clock::now() - t0, 30ms);
    // read with nothing sent, through the socket's default deadline
    auto [c, s] = connect_pair();
    char buf[8];
    s.set_read_deadline(40ms);
    s.read_some(buf, ec);
    EXPECT_EQ(ec, std::errc::timed_out);
    // and the throwing form
    EXPECT_THROW(s.read_some(buf, 10ms), std::system_error);
    // write to a peer that does not read, until the buffers are full
    set_buffers(c.native_handle(), 1024, 1024);
    set_buffers(s.native_handle(), 1024, 1024);
    std::vector<char> big(8 << 20);
    const std::size_t sent = c.write_all(big, ec, 50ms);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_LT(sent, big.size());
    // connect to a listener whose backlog is full
    FullListener full;
    auto t1 = spindle::Clock::now();
    net::TcpStream::connect(full.listener.local_endpoint(), ec, 50ms);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_GE(spindle::Clock::now() - t1, 50ms);
  });
}

// Each blocking call, blocked, then ended by request_stop (first) or by close()
// from another fiber (second). A call that ignored both would run into its 20 s
// deadline and report timed_out instead.
enum class Call { kAccept, kRead, kReadAfterShortRead, kWaitReadable, kWaitReadableAfterShortRead, kWrite, kConnect };
enum class Ender { kStop, kClose };

class Interrupt : public ::testing::TestWithParam<std::tuple<Call, Ender>> {};

TEST_P(Interrupt, EndsTheBlockedCall) {
  const auto [call, ender] = GetParam();
  on_fiber([call = call, ender = ender] {
    auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
    Pair p;
    if (call != Call::kAccept && call != Call::kConnect) {
      p.client = net::TcpStream::connect(l.local_endpoint());
      p.server = l.accept();
      set_buffers(p.client.native_handle(), 1024, 1024);
      set_buffers(p.server.native_handle(), 1024, 1024);
      if (call == Call::kReadAfterShortRead || call == Call::kWaitReadableAfterShortRead) p.client.write_all("x");
    }
    FullListener full;
    net::TcpStream connecting;
    std::atomic<bool> started{false};
    auto blocked = spindle::spawn([&] {
      std::error_code ec;
      started = true;
      switch (call) {
        case Call::kAccept:
          l.accept(ec, 20s);
          break;
        case Call::kRead: {
          char buf[16];
          p.server.read_some(buf, ec, 20s);
          break;
        }
        case Call::kReadAfterShortRead: {  // the second read waits for an edge before its recv
          char buf[16];
          if (p.server.read_some(buf, ec, 20s) == 1) p.server.read_some(buf, ec, 20s);
          break;
        }
        case Call::kWaitReadable:
          p.server.wait_readable(ec, 20s);
          break;
        case Call::kWaitReadableAfterShortRead: {  // waits for an edge, without a syscall first
          char buf[16];
          if (p.server.read_some(buf, ec, 20s) == 1) p.server.wait_readable(ec, 20s);
          break;
        }
        case Call::kWrite: {
          std::vector<char> big(32 << 20);
          p.client.write_all(big, ec, 20s);
          break;
        }
        case Call::kConnect:
          connecting = net::TcpStream::connect(full.listener.local_endpoint(), ec, 20s);
          break;
      }
      return ec;
    });
    while (!started) spindle::this_fiber::yield();
    spindle::this_fiber::sleep_for(30ms);  // let it block (if it has not, the early checks must end it)
    if (ender == Ender::kStop) {
      blocked.request_stop();
      EXPECT_EQ(blocked.join(), std::errc::operation_canceled);
    } else {
      switch (call) {
        case Call::kAccept: l.close(); break;
        case Call::kRead:
        case Call::kReadAfterShortRead:
        case Call::kWaitReadable:
        case Call::kWaitReadableAfterShortRead: p.server.close(); break;
        case Call::kWrite: p.client.close(); break;
        case Call::kConnect: return blocked.request_stop(), (void)blocked.join();  // no socket to close yet
      }
      EXPECT_EQ(blocked.join(), std::errc::bad_file_descriptor);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(AllCalls, Interrupt,
                         ::testing::Combine(::testing::Values(Call::kAccept, Call::kRead, Call::kReadAfterShortRead,
                                                                 Call::kWaitReadable, Call::kWaitReadableAfterShortRead,
                                                                 Call::kWrite, Call::kConnect),
                                            ::testing::Values(Ender::kStop, Ender::kClose)));

TEST(Tcp, CloseFromAnotherFiberDuringConnectEndsIt) {
  // connect() has no socket object until it returns; closing the listener it
  // connects to is what "the other side goes away" looks like instead.
  on_fiber([] {
    FullListener full;
    auto blocked = spindle::spawn([&] {
      std::error_code ec;
      net::TcpStream::connect(full.listener.local_endpoint(), ec, 20s);
      return ec;
    });
    spindle::this_fiber::sleep_for(30ms);
    full.listener.close();
    full.fillers.clear();
    const std::error_code ec = blocked.join();
    // Closing the listener drops the half-open connection: the SYN retransmit
    // then meets a reset port. Either way it must not run into the 20 s deadline.
    EXPECT_NE(ec, std::errc::timed_out) << ec.message();
  });
}

TEST(Tcp, PlainThreadsBlockTheThread) {
  auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
  // A fiber server and a plain-thread client.
  auto server = spindle::spawn(sched(), [&] {
    net::TcpStream c = l.accept();
    char buf[5];
    c.read_exact(buf);
    c.write_all(net::ConstBuffer(buf, 5));
  });
  auto c = net::TcpStream::connect(l.local_endpoint());
  c.write_all("thrd!");
  char buf[5];
  c.read_exact(buf, 5s);
  EXPECT_EQ(std::string(buf, 5), "thrd!");
  server.join();
  // A thread's read ends at its deadline, and when another thread closes it.
  std::error_code ec;
  char b;
  c.read_some(net::MutableBuffer(&b, 1), ec, 20ms);
  EXPECT_TRUE(ec == std::errc::timed_out || (!ec)) << ec.message();  // the server closed: EOF is fine too
  auto [c2, s2] = connect_pair();
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    c2.close();
  });
  char b2[4];
  c2.read_some(b2, ec, 20s);
  t.join();
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
}

TEST(Tcp, FiberMigratesBetweenWorkersBetweenCalls) {
  spindle::Scheduler s4({.workers = 4, .pinning = spindle::Pinning::kNone, .name = "mig"});
  auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
  auto echo = spindle::spawn(s4, [&] {
    net::TcpStream c = l.accept();
    std::uint64_t v;
    std::error_code ec;
    while (c.read_exact(net::MutableBuffer(&v, sizeof v), ec) == sizeof v) c.write_all(net::ConstBuffer(&v, sizeof v));
  });
  auto client = spindle::spawn(s4, [&] {
    std::set<int> workers;
    auto c = net::TcpStream::connect(l.local_endpoint());
    for (std::uint64_t i = 0; i < 300; ++i) {
      c.write_all(net::ConstBuffer(&i, sizeof i));
      workers.insert(s4.current_worker_index());
      // Spawning runs the child first and queues this fiber, where an idle worker
      // steals it while the child keeps its worker busy: the read below then
      // runs (and parks, and is woken) on another worker.
      auto hog = spindle::spawn([] {
        const auto until = spindle::Clock::now() + 300us;
        while (spindle::Clock::now() < until) {
        }
      });
      std::uint64_t back = ~i;
      c.read_exact(net::MutableBuffer(&back, sizeof back));
      workers.insert(s4.current_worker_index());
      EXPECT_EQ(back, i);
      hog.join();
    }
    return workers.size();
  });
  const std::size_t seen = client.join();
  echo.join();
  EXPECT_GE(seen, 2u);  // it did run on more than one worker, and every reply matched
}
