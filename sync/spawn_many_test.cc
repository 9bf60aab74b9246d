// spawn_many: a burst of jobs from a plain thread (a game loop's frame) and from a
// fiber, join() running jobs itself, jobs that wait for each other, zero jobs,
// exceptions thrown by jobs, many rounds (a lost wakeup of a burst hangs), and the
// default Executor::submit_batch of other executors.
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
#include "spindle/sync/wait_group.h"

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

// A job runs on a fiber of the Scheduler or, taken by join(), on the joining thread.
TEST(SpawnManyTest, JobsRunOnFibersOfTheSchedulerOrOnTheJoiningThread) {
  Scheduler sched({.workers = 2, .name = "many"});
  std::atomic<int> on_worker{0}, on_joiner{0};
  const auto joiner = std::this_thread::get_id();
  auto jobs = spawn_many(sched, 64, [&](std::size_t) {
    if (sched.current_worker_index() >= 0 && this_fiber::id() != 0) on_worker.fetch_add(1);
    else if (std::this_thread::get_id() == joiner) on_joiner.fetch_add(1);
    this_fiber::yield();  // a fiber yields; the plain thread yields its CPU
  });
  jobs.join();
  EXPECT_EQ(on_worker.load() + on_joiner.load(), 64);
}

// join() does not wait for a worker to take the jobs: with the only worker busy,
// the joining thread runs them all itself.
TEST(SpawnManyTest, JoinRunsTheJobsNoWorkerHasTaken) {
  Scheduler sched({.workers = 1, .name = "many"});
  std::atomic<bool> release{false}, busy{false};
  spawn(sched, [&] {
    busy.store(true);
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // holds the worker
  }).detach();
  while (!busy.load()) std::this_thread::yield();
  // If join() only waited, the jobs would run once the watchdog frees the worker,
  // on the worker: the count below would fail (and the test would not hang).
  std::thread watchdog([&] {
    for (int i = 0; i < 20000 && !release.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    release.store(true);
  });
  std::atomic<int> on_joiner{0};
  const auto joiner = std::this_thread::get_id();
  auto jobs = spawn_many(sched, 8, [&](std::size_t) {
    if (std::this_thread::get_id() == joiner) on_joiner.fetch_add(1);
  });
  jobs.join();
  const bool worker_was_still_busy = !release.exchange(true);
  watchdog.join();
  EXPECT_TRUE(worker_was_still_busy);
  EXPECT_EQ(on_joiner.load(), 8);
}

// Jobs that wait for each other: all n must be running at once. A batch starts
// only a few fibers, so this needs the extra fiber a job entered by the last idle
// fiber starts (and the joining thread, which blocks inside the job it took).
TEST(SpawnManyTest, JobsThatWaitForEachOtherAllRunAtOnce) {
  Scheduler sched({.workers = 2, .name = "many"});
  for (std::size_t n : {2u, 3u, 64u, 500u}) {
    WaitGroup arrived;
    arrived.add(static_cast<std::int64_t>(n));
    std::atomic<std::size_t> left{0};
    auto jobs = spawn_many(sched, n, [&](std::size_t) {
      arrived.done();
      arrived.wait();  // every job has arrived
      left.fetch_add(1);
    });
    jobs.join();
    EXPECT_EQ(left.load(), n);
  }
  // And from a fiber (the joining fiber parks inside its job).
  spawn(sched, [&] {
    WaitGroup arrived;
    arrived.add(100);
    spawn_many(sched, 100, [&](std::size_t) {
      arrived.done();
      arrived.wait();
    }).join();
  }).join();
}

// The batch's fibers outlive their handle: join() may run every job itself and
// return, and the handle go, before a fiber that finds no job left has run.
TEST(SpawnManyTest, HandleMayGoBeforeTheBatchsFibersRun) {
  ManualExecutor ex;
  int runs = 0;
  {
    auto jobs = spawn_many(ex, 4, [&](std::size_t) { ++runs; });
    jobs.join();  // a plain thread, and nothing runs ex: the jobs ran here
    EXPECT_EQ(runs, 4);
  }
  ex.run_all();  // the fibers start now, find nothing, and let go of the batch
  EXPECT_EQ(runs, 4);
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
