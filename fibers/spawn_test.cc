#include "spindle/fibers/spawn.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "spindle/coro/death_test.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sched/thread_pool.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

SchedulerOptions two_workers(const char* name) {
  return {.workers = 2, .pinning = Pinning::kNone, .name = name};
}

TEST(SpawnTest, JoinReturnsTheValueFromAPlainThread) {
  Scheduler sched(two_workers("values"));
  auto h = spawn(sched, [](int a, int b) { return a * b; }, 6, 7);
  EXPECT_TRUE(h.joinable());
  EXPECT_EQ(h.join(), 42);
  EXPECT_FALSE(h.joinable());
}

TEST(SpawnTest, MoveOnlyArgumentsAndResults) {
  Scheduler sched(two_workers("move-only"));
  auto h = spawn(sched, [](std::unique_ptr<int> p) { return std::make_unique<int>(*p + 1); },
                 std::make_unique<int>(41));
  EXPECT_EQ(*h.join(), 42);
}

TEST(SpawnTest, JoinRethrowsTheFibersException) {
  Scheduler sched(two_workers("throws"));
  auto h = spawn(sched, []() -> int { throw std::out_of_range("from the fiber"); });
  try {
    h.join();
    FAIL() << "join should rethrow";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "from the fiber");
  }
}

TEST(SpawnTest, JoiningTwiceOrDetachingAfterJoinIsAnError) {
  Scheduler sched(two_workers("twice"));
  auto h = spawn(sched, [] {});
  h.join();
  EXPECT_THROW(h.join(), std::logic_error);
  EXPECT_THROW(h.detach(), std::logic_error);
}

TEST(SpawnDeathTest, DestroyingAJoinableHandleIsReported) {
  detail::set_death_test_style();  // "fast" under qemu (coro/death_test.h)
  EXPECT_DEATH(
      {
        Scheduler sched(two_workers("dropped"));
        { auto h = spawn(sched, [] {}); }
      },
      "JoinHandle destroyed while joinable");
}

TEST(SpawnTest, SpawnOutsideAnyExecutorNeedsOne) {
  EXPECT_THROW((void)spawn([] {}), std::logic_error);
}

int skynet(int num, int size) {
  if (size == 1) return num;
  std::vector<JoinHandle<int>> children;
  children.reserve(10);
  const int sub = size / 10;
  for (int i = 0; i < 10; ++i) children.push_back(spawn(skynet, num + i * sub, sub));
  long long sum = 0;
  for (auto& c : children) sum += c.join();
  return static_cast<int>(sum % 1'000'000'007);  // keeps the sum inside int
}

TEST(SpawnTest, SkynetMillionFibersChecksum) {
  // 1M leaves (10^6) plus 111,111 inner fibers, on two workers; scaled down to the
  // largest power of ten at most 10^6 / kScale (the tree splits by ten down to
  // single leaves: any other count reaches sub-trees of size 0 and never ends).
  int leaves = 1'000'000;
  while (leaves > 1 && leaves > 1'000'000 / testing_sizes::kScale) leaves /= 10;
  Scheduler sched(two_workers("skynet"));
  long long expected = 0;
  for (int i = 0; i < leaves; ++i) expected += i;
  expected %= 1'000'000'007;
  // Sums of sub-trees are taken modulo the prime at every level.
  auto h = spawn(sched, skynet, 0, leaves);
  EXPECT_EQ(h.join(), expected);
  EXPECT_GT(sched.stats().tasks_run, static_cast<std::uint64_t>(leaves));
}

TEST(SpawnTest, ConcurrentSpawnsFromFourPlainThreads) {
  Scheduler sched(two_workers("four-threads"));
  const int kPerThread = 5000 / testing_sizes::kScale;
  std::atomic<long long> total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<JoinHandle<int>> hs;
      for (int i = 0; i < kPerThread; ++i) hs.push_back(spawn(sched, [v = t * kPerThread + i] { return v; }));
      long long sum = 0;
      for (auto& h : hs) sum += h.join();
      total += sum;
    });
  }
  for (auto& t : threads) t.join();
  const long long n = 4LL * kPerThread;
  EXPECT_EQ(total.load(), n * (n - 1) / 2);
}

TEST(SpawnTest, DetachedFibersRunToCompletion) {
  std::atomic<int> done{0};
  {
    Scheduler sched(two_workers("detached"));
    for (int i = 0; i < 1000; ++i) spawn(sched, [&] { done++; }).detach();
  }  // the destructor waits for every fiber
  EXPECT_EQ(done.load(), 1000);
}

TEST(SpawnTest, DestructorWaitsForDetachedDescendantsSpawnedOnWorkers) {
  // Spawns from workers are counted against the workers' spawn credit; the
  // destructor must still wait for every one of them, and must not wait forever
  // on credit held by a worker that went idle.
  std::atomic<int> done{0};
  {
    Scheduler sched(two_workers("descendants"));
    spawn(sched, [&] {
      for (int i = 0; i < 300; ++i) {
        spawn([&, i] {
          if (i % 3 == 0) this_fiber::sleep_for(1ms);
          spawn([&] { done++; }).detach();
          done++;
        }).detach();
      }
    }).detach();
  }
  EXPECT_EQ(done.load(), 600);
  {
    Scheduler sched(two_workers("idle-credit"));
    spawn(sched, [] {
      for (int i = 0; i < 10; ++i) spawn([] {}).join();
    }).join();
    std::this_thread::sleep_for(5ms);  // both workers park, one holding credit
  }  // must return
}

TEST(SpawnTest, RequestStopReachesTheFiber) {
  Scheduler sched(two_workers("stop"));
  std::atomic<int> rounds_seen{0};
  auto h = spawn(sched, [&rounds_seen] {
    int rounds = 0;
    while (!this_fiber::stop_token().stop_requested()) {
      this_fiber::sleep_for(1ms);
      rounds_seen = ++rounds;
    }
    return rounds;
  });
  // Until the fiber has looped at least once (a fixed sleep here failed under
  // wine on a loaded machine, before the fiber had run at all).
  while (rounds_seen.load() == 0) std::this_thread::sleep_for(1ms);
  h.request_stop();
  EXPECT_GE(h.join(), 1);
}

TEST(SpawnTest, SpawningOnAStoppingSchedulerFailsClearly) {
  // The destructor blocks while a fiber still runs; meanwhile (its members alive,
  // its body waiting) a spawn from outside must fail.
  auto* sched = new Scheduler(two_workers("stopping"));
  std::atomic<bool> release{false};
  spawn(*sched, [&] {
    while (!release.load()) this_fiber::sleep_for(1ms);
  }).detach();
  std::thread destroyer([&] { delete sched; });
  while (!sched->stopping()) std::this_thread::yield();
  try {
    spawn(*sched, [] {}).detach();
    ADD_FAILURE() << "spawn on a stopping scheduler should throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("shutdown began"), std::string::npos) << e.what();
  }
  release = true;
  destroyer.join();
}

TEST(SpawnTest, TwoSchedulersAtOnceAndSpawningAcrossThem) {
  Scheduler render(two_workers("render"));
  Scheduler io({.workers = 1, .pinning = Pinning::kNone, .name = "io"});
  auto h = spawn(render, [&io] {
    // From a render fiber, run something on io and wait for it.
    auto inner = spawn(io, [] { return std::string(this_fiber::on_fiber() ? "io" : "?"); });
    return inner.join() + "+render";
  });
  EXPECT_EQ(h.join(), "io+render");
}

TEST(SpawnTest, StackSizeComesFromTheSchedulerUnlessTheSpawnSaysOtherwise) {
  SchedulerOptions o = two_workers("big-stacks");
  o.stack_size = 512 * 1024;
  Scheduler sched(o);
  auto stack_of_current = [] { return detail::current_fiber()->coroutine().stack().size(); };
  EXPECT_GE(spawn(sched, stack_of_current).join(), 512u * 1024);
  EXPECT_LT(spawn(sched, stack_of_current).join(), 600u * 1024);
  auto small = spawn(FiberOptions{.executor = &sched, .stack_size = 32 * 1024}, stack_of_current);
  EXPECT_LT(small.join(), 64u * 1024);
}

TEST(SpawnTest, ThreadPoolRunsFibers) {
  ThreadPool pool(2, "compute");
  auto h = spawn(pool, [] {
    auto child = spawn([] { return 20; });
    this_fiber::yield();
    return child.join() + 22;
  });
  EXPECT_EQ(h.join(), 42);
}

TEST(SpawnTest, ManualExecutorRunsFibersOnlyWhenTold) {
  ManualExecutor ex;
  std::vector<int> trace;
  auto h = spawn(ex, [&] {
    trace.push_back(1);
    this_fiber::yield();
    trace.push_back(2);
  });
  EXPECT_TRUE(trace.empty());
  ASSERT_TRUE(ex.run_next());
  EXPECT_EQ(trace, (std::vector<int>{1}));
  ASSERT_TRUE(ex.run_next());
  EXPECT_EQ(trace, (std::vector<int>{1, 2}));
  EXPECT_FALSE(ex.run_next());
  h.join();  // finished: join does not block
}

}  // namespace
}  // namespace spindle
