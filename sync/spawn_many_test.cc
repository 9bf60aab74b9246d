// spawn_many: a burst of fibers from a plain thread (a game loop's frame) and from
// a fiber, zero jobs, exceptions thrown by jobs, many rounds (a lost wakeup of a
// burst hangs), and the default Executor::submit_batch of other executors.
#include "spindle/sync/spawn_many.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sched/thread_pool.h"

namespace spindle {
namespace {

TEST(SpawnManyTest, EveryIndexRunsOnceFromAPlainThread) {
  Scheduler sched({.workers = 2, .name = "many"});
  constexpr std::size_t kJobs = 1000;
  std::vector<std::atomic<int>> runs(kJobs);
  auto jobs = spawn_many(sched, kJobs, [&](std::size_t i) { runs[i].fetch_add(1, std::memory_order_relaxed); });
  EXPECT_EQ(jobs.size(), kJobs);
  jobs.join();
  for (std::size_t i = 0; i < kJobs; ++i) EXPECT_EQ(runs[i].load(), 1) << "index " << i;
}

TEST(SpawnManyTest, JobsRunOnFibersOfTheScheduler) {
  Scheduler sched({.workers = 2, .name = "many"});
  std::atomic<int> on_worker{0};
  auto jobs = spawn_many(sched, 64, [&](std::size_t) {
    if (sched.current_worker_index() >= 0 && this_fiber::id() != 0) on_worker.fetch_add(1);
    this_fiber::yield();  // a fiber, so it can yield
  });
  jobs.join();
  EXPECT_EQ(on_worker.load(), 64);
}

TEST(SpawnManyTest, ZeroJobsRunNothingAndJoinReturns) {
  Scheduler sched({.workers = 2, .name = "many"});
  bool called = false;
  auto jobs = spawn_many(sched, 0, [&](std::size_t) { called = true; });
  EXPECT_EQ(jobs.size(), 0u);
  jobs.join();
  EXPECT_FALSE(called);
}

TEST(SpawnManyTest, JoinRethrowsAJobsExceptionAfterAllJobsEnded) {
  Scheduler sched({.workers = 2, .name = "many"});
  std::atomic<int> finished{0};
  auto jobs = spawn_many(sched, 100, [&](std::size_t i) {
    if (i % 10 == 3) throw std::runtime_error("job " + std::to_string(i));
    this_fiber::yield();
    finished.fetch_add(1);
  });
  try {
    jobs.join();
    ADD_FAILURE() << "join() did not rethrow";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("job ", 0), 0u) << what;
    EXPECT_EQ(std::stoi(what.substr(4)) % 10, 3) << what;
  }
  // Every job that did not throw had ended by the time join() returned.
  EXPECT_EQ(finished.load(), 90);
}

TEST(SpawnManyTest, JoinTwiceThrows) {
  Scheduler sched({.workers = 1, .name = "many"});
  auto jobs = spawn_many(sched, 3, [](std::size_t) {});
  jobs.join();
  EXPECT_THROW(jobs.join(), std::logic_error);
}

TEST(SpawnManyTest, FromAFiberNested) {
  Scheduler sched({.workers = 2, .name = "many"});
  std::atomic<int> leaves{0};
  spawn(sched, [&] {
    auto outer = spawn_many(sched, 8, [&](std::size_t) {
      auto inner = spawn_many(sched, 8, [&](std::size_t) { leaves.fetch_add(1); });
      inner.join();
    });
    outer.join();
  }).join();
  EXPECT_EQ(leaves.load(), 64);
}

// A game loop's frames: small bursts from a plain thread while the workers go
// idle between them. A burst whose wakeup is lost never finishes (the test hangs
// and times out); run under TSan and --config=faults too.
TEST(SpawnManyTest, ManyFramesFromAPlainThread) {
  for (const Pinning pinning : {Pinning::kCores, Pinning::kNone}) {
    Scheduler sched({.workers = 3, .pinning = pinning, .name = "frames"});
    const int frames = 3000 / testing_sizes::kScale;
    std::atomic<std::int64_t> sum{0};
    std::int64_t expected = 0;
    for (int f = 0; f < frames; ++f) {
      const std::size_t n = 1 + static_cast<std::size_t>(f % 7);
      spawn_many(sched, n, [&](std::size_t i) { sum.fetch_add(static_cast<std::int64_t>(i) + 1); }).join();
      expected += static_cast<std::int64_t>(n * (n + 1) / 2);
      if (f % 100 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));  // let workers park
    }
    EXPECT_EQ(sum.load(), expected);
  }
}

// Several plain threads submit bursts to one Scheduler at once.
TEST(SpawnManyTest, ConcurrentBurstsFromSeveralThreads) {
  Scheduler sched({.workers = 2, .name = "many"});
  std::atomic<int> runs{0};
  const int rounds = 500 / testing_sizes::kScale;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < rounds; ++r) spawn_many(sched, 16, [&](std::size_t) { runs.fetch_add(1); }).join();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(runs.load(), 3 * rounds * 16);
}

// Other executors take the default submit_batch (one submit per task).
TEST(SpawnManyTest, OnAThreadPoolAndAManualExecutor) {
  {
    ThreadPool pool(2);
    std::atomic<int> runs{0};
    spawn_many(pool, 50, [&](std::size_t) { runs.fetch_add(1); }).join();
    EXPECT_EQ(runs.load(), 50);
  }
  ManualExecutor ex;
  std::vector<int> order;
  int outside = 0;
  spawn(ex, [&] {
    auto jobs = spawn_many(ex, 4, [&](std::size_t i) { order.push_back(static_cast<int>(i)); });
    jobs.join();
    outside = static_cast<int>(order.size());
  }).detach();
  ex.run_all();
  EXPECT_EQ(outside, 4);
  ASSERT_EQ(order.size(), 4u);
  std::sort(order.begin(), order.end());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace spindle
