// A Scheduler's life as users' programs live it: spawns that throw, schedulers
// destroyed while fibers of another scheduler still wake theirs, exceptions that
// escape detached fibers. Every test that ends in a destructor runs it under a
// watchdog, so a hang fails the test with a message instead of stalling CI.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sched/thread_pool.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

// Runs `body`; if it has not returned after `limit`, ends the process with a
// message saying what hung (gtest reports the test as failed).
template <class F>
void returns_within(std::chrono::seconds limit, const char* what, F&& body) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread dog([&] {
    std::unique_lock<std::mutex> lk(m);
    if (!cv.wait_for(lk, limit, [&] { return done; })) {
      std::fprintf(stderr, "WATCHDOG: %s did not return within %lld s\n", what, static_cast<long long>(limit.count()));
      std::fflush(stderr);
      std::abort();
    }
  });
  body();
  {
    std::lock_guard<std::mutex> lk(m);
    done = true;
  }
  cv.notify_one();
  dog.join();
}

constexpr auto kHang = 60s;

SchedulerOptions two_workers(const char* name) { return {.workers = 2, .pinning = Pinning::kNone, .name = name}; }

// A callable whose move constructor throws (as an allocating member might, with
// std::bad_alloc) once `moves_left` moves have been made: spawns of it fail at
// whichever move the countdown reaches.
struct FailingMove {
  std::shared_ptr<int> moves_left;
  char bulk[8] = {};
  explicit FailingMove(int n) : moves_left(std::make_shared<int>(n)) {}
  FailingMove(const FailingMove&) = delete;
  FailingMove(FailingMove&& o) : moves_left(o.moves_left) {
    if ((*moves_left)-- <= 0) throw std::bad_alloc();
  }
  int operator()() const { return 7; }
};

// The same, too big for the fiber's inline payload (heap-allocated payload path).
struct BigFailingMove : FailingMove {
  using FailingMove::FailingMove;
  char more[512] = {};
};

// Spawns that throw, made every way we know, on `sched` from the calling thread
// or fiber; returns how many spawns succeeded (each is joined).
int failing_spawns(Executor& sched) {
  int ok = 0;
  EXPECT_THROW(spawn(FiberOptions{.executor = &sched, .stack_size = std::size_t{1} << 40}, [] {}).join(),
               std::invalid_argument);
  EXPECT_THROW(spawn(FiberOptions{.executor = &sched, .stack_size = ~std::size_t{0}}, [] {}).join(),
               std::invalid_argument);
  for (int n = 0; n < 6; ++n) {
    try {
      ok += spawn(sched, FailingMove(n)).join() == 7;
    } catch (const std::bad_alloc&) {
    }
    try {
      ok += spawn(sched, BigFailingMove(n)).join() == 7;
    } catch (const std::bad_alloc&) {
    }
  }
  return ok;
}

TEST(FailedSpawnTest, LeavesTheSchedulerAsItWasFromAPlainThread) {
  auto sched = std::make_unique<Scheduler>(two_workers("failed-spawn"));
  try {
    spawn(FiberOptions{.executor = sched.get(), .stack_size = std::size_t{1} << 40}, [] {}).detach();
    ADD_FAILURE() << "a 1 TiB stack was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("stack size 1099511627776"), std::string::npos) << e.what();
  }
  const int ok = failing_spawns(*sched);
  EXPECT_GT(ok, 0) << "some FailingMove spawns make fewer moves than the countdown allows";
  EXPECT_EQ(spawn(*sched, [] { return 42; }).join(), 42);  // still works
  returns_within(kHang, "~Scheduler after failed spawns from a plain thread", [&] { sched.reset(); });
}

TEST(FailedSpawnTest, LeavesTheSchedulerAsItWasFromInsideAFiber) {
  auto sched = std::make_unique<Scheduler>(two_workers("failed-spawn-fiber"));
  // Many rounds, from several fibers: each failed spawn on a worker used to keep
  // one count of the worker's spawn credit.
  std::vector<JoinHandle<int>> parents;
  for (int i = 0; i < 8; ++i) {
    parents.push_back(spawn(*sched, [&s = *sched] {
      int ok = 0;
      for (int round = 0; round < 20; ++round) {
        ok += failing_spawns(s);
        this_fiber::yield();
      }
      return ok;
    }));
  }
  for (auto& h : parents) EXPECT_GT(h.join(), 0);
  returns_within(kHang, "~Scheduler after failed spawns from inside its fibers", [&] { sched.reset(); });
}

TEST(FailedSpawnTest, ThreadPoolAndManualExecutorToo) {
  auto pool = std::make_unique<ThreadPool>(2, "failed-spawn-pool");
  failing_spawns(*pool);
  returns_within(kHang, "~ThreadPool after failed spawns", [&] { pool.reset(); });
  ManualExecutor manual;
  EXPECT_THROW(spawn(FiberOptions{.executor = &manual, .stack_size = std::size_t{1} << 40}, [] {}).detach(),
               std::invalid_argument);
  EXPECT_FALSE(manual.run_next()) << "a failed spawn queued nothing";
}

std::size_t vm_size_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoul(line.substr(7));
  }
  return 0;
}

TEST(FailedSpawnTest, LeaksNoFiberOrStack) {
  Scheduler sched(two_workers("failed-spawn-leak"));
  for (int i = 0; i < 50; ++i) spawn(sched, [] {}).join();  // warm the pools
  const std::size_t before = vm_size_kib();
  ASSERT_GT(before, 0u);
  // Each spawn fails after it got a fiber and its stack (at the move into the
  // fiber's payload, or earlier): 2,000 leaked stacks would be over 128 MiB.
  for (int i = 0; i < 1000; ++i) {
    for (int n : {1, 2}) {
      try {
        spawn(sched, FailingMove(n)).join();
      } catch (const std::bad_alloc&) {
      }
    }
  }
  const std::size_t after = vm_size_kib();
  EXPECT_LT(after, before + 32 * 1024) << "address space grew from " << before << " KiB to " << after << " KiB";
}

// Issue 11 #8: fibers on A join fibers on B; B's worker wakes each A fiber through
// A.submit. The main thread then destroys A while B's worker may still be inside
// A.submit, waking one of A's workers. TSan reports that race; ASan a
// use-after-free when the timing hits. A lives on the heap so that ASan can see it.
TEST(ShutdownRaceTest, DestroyingASchedulerWaitsForForeignSubmitters) {
  constexpr int kRounds = 200;
  Scheduler b({.workers = 1, .pinning = Pinning::kNone, .name = "B"});
  for (int round = 0; round < kRounds; ++round) {
    auto a = std::make_unique<Scheduler>(two_workers("A"));
    std::vector<JoinHandle<int>> joiners;
    for (int i = 0; i < 8; ++i) {
      joiners.push_back(spawn(*a, [&b, i] { return spawn(b, [i] { return i; }).join(); }));
    }
    int sum = 0;
    for (auto& h : joiners) sum += h.join();
    ASSERT_EQ(sum, 28);
    returns_within(kHang, "~Scheduler A", [&] { a.reset(); });
  }
}

// The same with A a ThreadPool: its submit notified its condition variable after
// unlocking, the same race.
TEST(ShutdownRaceTest, DestroyingAThreadPoolWaitsForForeignSubmitters) {
  constexpr int kRounds = 200;
  Scheduler b({.workers = 1, .pinning = Pinning::kNone, .name = "B"});
  for (int round = 0; round < kRounds; ++round) {
    auto a = std::make_unique<ThreadPool>(2, "A-pool");
    std::vector<JoinHandle<int>> joiners;
    for (int i = 0; i < 8; ++i) {
      joiners.push_back(spawn(*a, [&b, i] { return spawn(b, [i] { return i; }).join(); }));
    }
    int sum = 0;
    for (auto& h : joiners) sum += h.join();
    ASSERT_EQ(sum, 28);
    returns_within(kHang, "~ThreadPool A", [&] { a.reset(); });
  }
}

}  // namespace
}  // namespace spindle
