// The netpoller itself: stale events after fd reuse, idle CPU with many idle
// connections, and what ~Scheduler says about fibers blocked in I/O.
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "io/io_poller.h"
#include "io/poll_desc.h"
#include "io/test_util.h"
#include "spindle/coro/death_test.h"
#include "spindle/fibers/fiber.h"
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
    // Ordering, not time: the waiter must see `current` set when it wakes, i.e. it
    // slept through the stale event (a wall-clock bound failed under TSan when
    // the waiter fiber started late).
    std::atomic<bool> current{false};
    auto waiter = spindle::spawn([&] {
      const std::error_code ec = d::desc_wait(desc, d::IoMode::kRead, spindle::Clock::now() + 20s);
      return std::make_pair(ec, current.load());
    });
    spindle::this_fiber::sleep_for(30ms);  // the new owner is parked now (most likely)
    EXPECT_EQ(d::desc_ready(desc, old_seq, true, true, false), 0);  // the late, stale event
    spindle::this_fiber::sleep_for(30ms);
    current.store(true);
    // A current one wakes it (or, had it not parked yet, leaves the edge for it).
    d::desc_ready(desc, seq, true, false, false);
    auto [ec, woke_after_current] = waiter.join();
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(woke_after_current);  // it slept through the stale event
    d::desc_release(desc);
    d::desc_close(desc, seq);
    close(b[1]);
  }).join();
}

namespace {

// Sets SPINDLE_IO_BACKEND for the Schedulers created in its scope (the backend
// is chosen per Scheduler, at its first I/O), and restores it.
class BackendScope {
 public:
  explicit BackendScope(const char* value) {
    if (const char* old = std::getenv("SPINDLE_IO_BACKEND")) old_ = old;
    if (value != nullptr) setenv("SPINDLE_IO_BACKEND", value, 1);
    else unsetenv("SPINDLE_IO_BACKEND");
  }
  ~BackendScope() {
    if (old_.empty()) unsetenv("SPINDLE_IO_BACKEND");
    else setenv("SPINDLE_IO_BACKEND", old_.c_str(), 1);
  }

 private:
  std::string old_;
};

// The backend a Scheduler's fibers use (installs it, as their first I/O does).
std::string backend_of(spindle::Scheduler& sched) {
  return spindle::spawn(sched, [] {
           d::IoPoller* p = d::poller_for(d::current_fiber()->executor());
           return std::string(p != nullptr ? p->name() : "none");
         }).join();
}

bool io_uring_works() {
  BackendScope b("auto");
  spindle::Scheduler sched({.workers = 1, .pinning = spindle::Pinning::kNone, .name = "probe"});
  return backend_of(sched) == "io_uring";
}

}  // namespace

// The same race through a real backend: the kernel reports readiness for the old
// fd (its completion sits unreaped in the queue: the one worker is busy running
// this fiber), the fd is closed, its number and descriptor are reused, and the
// new owner parks to read. The late report names the old registration and must
// not wake it. (With io_uring the poll request's completion and its -ECANCELED
// both arrive late; with epoll, close(2) drops the event, so there it is a check
// that nothing else wakes the reader.)
class StaleReadiness : public testing::TestWithParam<const char*> {};

TEST_P(StaleReadiness, LateCompletionForAClosedFdWakesNotItsSuccessor) {
  BackendScope backend(GetParam());
  if (std::string(GetParam()) == "io_uring" && !io_uring_works()) GTEST_SKIP() << "io_uring unavailable here";
  spindle::Scheduler sched({.workers = 1, .pinning = spindle::Pinning::kNone, .name = "stale2"});
  ASSERT_EQ(backend_of(sched), GetParam());
  const int rounds = spindle::io_test::scaled(20);
  for (int round = 0; round < rounds; ++round) {
    spindle::spawn(sched, [&] {
      int a[2];
      ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
      d::PollDesc* old_desc = d::desc_open(a[0]);
      const std::uint32_t old_seq = old_desc->seq;
      ASSERT_TRUE(d::desc_acquire(old_desc, old_seq));
      // Registers a[0] and parks: the worker reaps its first (writable) report.
      EXPECT_EQ(d::desc_wait(old_desc, d::IoMode::kRead, spindle::Clock::now() + 1ms), std::errc::timed_out);
      // Readable now: a report for (old index, old seq) is posted, and stays
      // unreaped, since this fiber keeps the only worker busy until it parks.
      ASSERT_EQ(write(a[1], "x", 1), 1);
      d::desc_release(old_desc);
      d::desc_close(old_desc, old_seq);
      close(a[1]);

      int b[2];
      ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
      ASSERT_EQ(b[0], a[0]);  // the fd number is reused...
      d::PollDesc* desc = d::desc_open(b[0]);
      ASSERT_EQ(desc, old_desc);  // ...and so is the descriptor
      const std::uint32_t seq = desc->seq;
      ASSERT_TRUE(d::desc_acquire(desc, seq));
      // Nothing will be written to b: only a stale report could end this wait.
      EXPECT_EQ(d::desc_wait(desc, d::IoMode::kRead, spindle::Clock::now() + 100ms), std::errc::timed_out)
          << "round " << round;
      d::desc_release(desc);
      d::desc_close(desc, seq);
      close(b[1]);
    }).join();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StaleReadiness, testing::Values("epoll", "io_uring"));

// io_uring that cannot be set up (EPERM: a seccomp profile or
// kernel.io_uring_disabled; ENOSYS: an old kernel) leaves the Scheduler on epoll,
// and sockets work as usual.
TEST(Backend, FallsBackToEpollWhenIoUringSetupFails) {
  BackendScope backend("auto");
  for (int err : {EPERM, ENOSYS}) {
    d::fail_io_uring_setup_for_testing(err);
    spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "fallback"});
    EXPECT_EQ(backend_of(sched), "epoll");
    auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
    auto server = spindle::spawn(sched, [&l] {
      net::TcpStream s = l.accept();
      char buf[5];
      s.read_exact(buf);
      s.write_all(net::ConstBuffer(buf, sizeof buf));
    });
    auto client = spindle::spawn(sched, [ep = l.local_endpoint()] {
      net::TcpStream s = net::TcpStream::connect(ep);
      s.write_all(net::ConstBuffer("hello", 5));
      char buf[5];
      s.read_exact(buf);
      return std::string(buf, sizeof buf);
    });
    EXPECT_EQ(client.join(), "hello");
    server.join();
    d::fail_io_uring_setup_for_testing(0);
  }
  // And without the failure, "auto" is whatever the probe finds.
  spindle::Scheduler sched({.workers = 1, .pinning = spindle::Pinning::kNone, .name = "auto"});
  const std::string name = backend_of(sched);
  EXPECT_TRUE(name == "io_uring" || name == "epoll") << name;
}

// With the variable unset (or empty), epoll: the echo benchmark's winner.
TEST(Backend, DefaultIsEpoll) {
  for (const char* value : {static_cast<const char*>(nullptr), ""}) {
    BackendScope backend(value);
    spindle::Scheduler sched({.workers = 1, .pinning = spindle::Pinning::kNone, .name = "default"});
    EXPECT_EQ(backend_of(sched), "epoll");
  }
}

TEST(Backend, EnvironmentForcesOne) {
  {
    BackendScope backend("epoll");
    spindle::Scheduler sched({.workers = 1, .pinning = spindle::Pinning::kNone, .name = "forced"});
    EXPECT_EQ(backend_of(sched), "epoll");
  }
  if (!io_uring_works()) GTEST_SKIP() << "io_uring unavailable here";
  BackendScope backend("io_uring");
  spindle::Scheduler sched({.workers = 1, .pinning = spindle::Pinning::kNone, .name = "forced"});
  EXPECT_EQ(backend_of(sched), "io_uring");
}

// A forced backend that cannot be had is an error, not a silent fallback.
TEST(BackendDeathTest, ForcedIoUringThatFailsAborts) {
  spindle::detail::set_death_test_style();  // "fast" under qemu-user, which cannot re-exec (coro/death_test.h)
  EXPECT_DEATH(
      {
        BackendScope backend("io_uring");
        d::fail_io_uring_setup_for_testing(EPERM);
        (void)d::make_poller();
      },
      "SPINDLE_IO_BACKEND=io_uring: io_uring cannot be set up here");
  EXPECT_DEATH(
      {
        BackendScope backend("kqueue");
        (void)d::make_poller();
      },
      "SPINDLE_IO_BACKEND=kqueue: unknown backend");
}

namespace {
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// CPU time of this process's threads whose name starts with `prefix` (a
// Scheduler's workers are "<name>/<i>"): the Scheduler's own cost, without what
// else the process runs (TSan's background thread, the test's own thread).
double threads_cpu_seconds(const std::string& prefix) {
  double total = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind(prefix, 0) != 0) continue;
    // Linux's per-thread CPU clock of a thread id (MAKE_THREAD_CPUCLOCK: scheduler
    // clock, per-thread), readable for threads of the calling process.
    const auto tid = static_cast<clockid_t>(std::atoi(e->d_name));
    const clockid_t clock = static_cast<clockid_t>((~tid) * 8 + 6);
    timespec ts{};
    if (clock_gettime(clock, &ts) == 0) total += static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  closedir(dir);
  return total;
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
  // The workers' CPU is what must stay under 1%; the whole process's is printed
  // too (under TSan its runtime's background thread alone can pass 1%).
  const double w0 = threads_cpu_seconds("idle/"), c0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(2s);
  const double workers_cpu = threads_cpu_seconds("idle/") - w0, cpu = cpu_seconds() - c0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("idle CPU with %d idle connections over %.2f s: workers %.2f ms (%.3f%% of a core), process %.2f ms\n", n,
              wall, workers_cpu * 1e3, 100 * workers_cpu / wall, cpu * 1e3);
  ASSERT_GE(w0, 0) << "no /proc/self/task";
  EXPECT_GT(w0, 0) << "no thread named idle/<i> found: the workers' names changed?";
  EXPECT_LT(workers_cpu / wall, 0.01);
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

// Regression: a worker's non-blocking poll() could read back the interrupt meant
// for the worker blocked in the poller; that worker then slept on while counted as
// woken (spinning), so later submissions from outside woke nobody: a hang. Each
// round, a fiber polls without blocking (it sleeps in short steps) while a plain
// thread submits a fiber; then both workers go idle and the next round's
// submissions must wake them.
TEST(Poller, InterruptsReachTheBlockedWorkerWhileOthersPoll) {
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "intr"});
  auto l = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
  auto client = net::TcpStream::connect(l.local_endpoint());
  net::TcpStream server = l.accept();
  // A fiber parked in I/O for the whole test: the poller has waiters.
  auto reader = spindle::spawn(sched, [&server] {
    char b;
    std::error_code ec;
    return server.read_some(net::MutableBuffer(&b, 1), ec);
  });
  const int rounds = spindle::io_test::scaled(3000);
  for (int round = 0; round < rounds; ++round) {
    std::atomic<int> ran{0};
    auto poller_fiber = spindle::spawn(sched, [&ran] {
      for (int i = 0; i < 3; ++i) spindle::this_fiber::sleep_for(10us);
      ran.fetch_add(1);
    });
    spindle::spawn(sched, [&ran] { ran.fetch_add(1); }).detach();
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (ran.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20us);
    ASSERT_EQ(ran.load(), 2) << "fibers submitted from outside never ran (round " << round << ")";
    poller_fiber.join();
  }
  client.close();
  EXPECT_EQ(reader.join(), 0u);
}
