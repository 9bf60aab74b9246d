// Reads that wait for a readiness edge before their syscall, as a server for many
// connections uses them: read_some after a short read on TCP (it waits for the
// next edge instead of a recv that would say EAGAIN), and wait_readable, which
// waits for bytes without a buffer (wait, then take a buffer, read, reply, give
// the buffer back). Neither may sleep through bytes that are there, nor miss what
// brings no later edge (the end of the stream, a reset, urgent data); both report
// deadlines and errors. (Stop requests and close() during them: tcp_test's
// Interrupt.)
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "io/test_util.h"
#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/io/tcp.h"
#include "spindle/sched/scheduler.h"

namespace net = spindle::net;
using namespace std::chrono_literals;
using spindle::io_test::connect_pair;

namespace {

spindle::Scheduler& sched() {
  static spindle::Scheduler* s =
      new spindle::Scheduler({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "edge-wait"});
  return *s;
}

template <class F>
auto on_fiber(F&& f) {
  return spindle::spawn(sched(), std::forward<F>(f)).join();
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

// After a short read, read_some waits for the next edge instead of calling recv
// (StreamSocket::short_read_drains_). What came with the data and brings no later
// edge must still be seen: the end of the stream, a reset, the bytes behind an
// urgent mark. A second connection keeps a fiber waiting, so that an idle worker
// blocks in the poller and reads the edges while the reader sleeps: the one edge
// for the data and the hang-up is then used up by the read that takes the data.
// The second parameter: each read_some is preceded by wait_readable, which after a
// short read also waits for an edge first.
enum class Burst { kDataThenEof, kDataThenReset, kUrgentMark };

class AfterAShortRead : public ::testing::TestWithParam<std::tuple<Burst, bool>> {};

TEST_P(AfterAShortRead, ReadSomeSeesWhatCameWithTheData) {
  const auto [burst, wait_first] = GetParam();
  on_fiber([burst = burst, wait_first = wait_first] {
    auto [c, s] = connect_pair();
    auto [idle_c, idle_s] = connect_pair();
    auto idler = spindle::spawn([&idle_s] {
      char b;
      std::error_code ec;
      idle_s.read_some(net::MutableBuffer(&b, 1), ec, 60s);
      return ec;
    });
    char buf[256];
    c.write_all("x");
    ASSERT_EQ(s.read_some(buf), 1u);  // short: the next read waits for an edge first
    switch (burst) {
      case Burst::kDataThenEof:
        c.write_all("hello");
        c.shutdown(net::Shutdown::kWrite);
        break;
      case Burst::kDataThenReset: {
        const linger lg{1, 0};  // close() sends RST
        setsockopt(c.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        c.write_all("hello");
        c.close();
        break;
      }
      case Burst::kUrgentMark:
        c.write_all("ab");
        ASSERT_EQ(::send(c.native_handle(), "!", 1, MSG_OOB), 1);  // recv stops short at its mark
        c.write_all("cd");
        break;
    }
    spindle::this_fiber::sleep_for(50ms);  // the poller reads the edges meanwhile
    std::string got;
    std::error_code ec;
    // A lost condition parks the reader until this deadline (where read_some tries
    // recv once more and so finds it): the reads must end long before it.
    const auto start = spindle::Clock::now();
    const auto until = start + 20s;
    for (;;) {
      if (wait_first) {
        s.wait_readable(ec, net::Deadline(until));
        if (ec) break;
      }
      const std::size_t n = s.read_some(buf, ec, net::Deadline(until));
      if (ec || n == 0) break;
      got.append(buf, n);
      if (burst == Burst::kUrgentMark && got.size() == 4) break;
    }
    EXPECT_LT(spindle::Clock::now() - start, 10s) << "the reader waited for an edge that never came";
    switch (burst) {
      case Burst::kDataThenEof:
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(got, "hello");
        break;
      case Burst::kDataThenReset:
        EXPECT_EQ(ec, std::errc::connection_reset) << ec.message();  // the data may be dropped with the reset
        break;
      case Burst::kUrgentMark:
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(got, "abcd");  // the urgent byte is out of band
        break;
    }
    idle_c.close();
    idler.join();
  });
}

INSTANTIATE_TEST_SUITE_P(Bursts, AfterAShortRead,
                         ::testing::Combine(::testing::Values(Burst::kDataThenEof, Burst::kDataThenReset,
                                                              Burst::kUrgentMark),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<Burst, bool>>& i) {
                           const Burst b = std::get<0>(i.param);
                           return std::string(b == Burst::kDataThenEof     ? "DataThenEof"
                                              : b == Burst::kDataThenReset ? "DataThenReset"
                                                                           : "UrgentMark") +
                                  (std::get<1>(i.param) ? "_WaitReadableFirst" : "");
                         });


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
