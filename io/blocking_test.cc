// spindle::blocking, net::resolve and io::File.
#include "spindle/io/blocking.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/io/file.h"
#include "spindle/io/resolve.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/event.h"

namespace net = spindle::net;
using namespace std::chrono_literals;

// On a one-worker Scheduler the blocked call waits for something only another
// fiber on that same worker can do: if blocking() held the worker, it never would.
TEST(Blocking, ParksTheFiberNotItsWorker) {
  spindle::Scheduler sched({.workers = 1, .pinning = spindle::Pinning::kNone});
  spindle::Event go;
  auto caller = spindle::spawn(sched, [&] {
    return spindle::blocking([&] { return go.wait_for(20s) ? 42 : -1; });
  });
  auto other = spindle::spawn(sched, [&] { go.set(); });
  EXPECT_EQ(caller.join(), 42);
  other.join();
}

TEST(Blocking, RethrowsAndReturnsReferencesAndVoid) {
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone});
  spindle::spawn(sched, [] {
    EXPECT_THROW(spindle::blocking([]() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
    int x = 1;
    int& r = spindle::blocking([&]() -> int& { return x; });
    EXPECT_EQ(&r, &x);
    bool ran = false;
    spindle::blocking([&] { ran = true; });
    EXPECT_TRUE(ran);
  }).join();
}

TEST(Blocking, MoreCallersThanThreadsQueue) {
  spindle::BlockingPool pool(2);
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone});
  std::atomic<int> in_flight{0}, peak{0};
  std::vector<spindle::JoinHandle<int>> callers;
  for (int i = 0; i < 12; ++i) {
    callers.push_back(spindle::spawn(sched, [&, i] {
      return pool.run([&, i] {
        const int now = in_flight.fetch_add(1) + 1;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        std::this_thread::sleep_for(5ms);
        in_flight.fetch_sub(1);
        return i * i;
      });
    }));
  }
  for (int i = 0; i < 12; ++i) EXPECT_EQ(callers[static_cast<std::size_t>(i)].join(), i * i);
  EXPECT_LE(peak.load(), 2);
  EXPECT_GE(peak.load(), 1);
  EXPECT_LE(pool.thread_count(), 2u);
}

TEST(Blocking, PlainThreadRunsInline) {
  const auto me = std::this_thread::get_id();
  EXPECT_EQ(spindle::blocking([] { return std::this_thread::get_id(); }), me);
}

TEST(Resolve, LocalhostAndNumeric) {
  spindle::Scheduler sched({.workers = 1, .pinning = spindle::Pinning::kNone});
  spindle::spawn(sched, [] {
    auto v = net::resolve("127.0.0.1", 8080);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0], net::Endpoint::loopback_v4(8080));
    auto l = net::resolve("localhost", 80);
    ASSERT_FALSE(l.empty());
    EXPECT_TRUE(std::any_of(l.begin(), l.end(), [](const net::Endpoint& e) {
      return e == net::Endpoint::loopback_v4(80) || e == net::Endpoint::loopback_v6(80);
    }));
  }).join();
}

TEST(File, OpenWriteReadFsyncSize) {
  const std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  const std::string path = dir + "/spindle_file_test_" + std::to_string(getpid());
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone});
  spindle::spawn(sched, [&] {
    auto f = spindle::io::File::open(path, spindle::io::OpenMode::kTruncate);
    EXPECT_EQ(f.write_at("hello world", 0), 11u);
    EXPECT_EQ(f.write_at("W", 6), 1u);
    f.fsync();
    EXPECT_EQ(f.size(), 11u);
    char buf[32];
    EXPECT_EQ(f.read_at(buf, 0), 11u);
    EXPECT_EQ(std::string(buf, 11), "hello World");
    EXPECT_EQ(f.read_at(buf, 100), 0u);
    f.close();
    std::error_code ec;
    spindle::io::File::open(path + ".missing", spindle::io::OpenMode::kRead, ec);
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  }).join();
  ::unlink(path.c_str());
}
