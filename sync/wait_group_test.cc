// WaitGroup: fork-join of fibers and threads, phases with 64 participants, timed
// waits, and death on a negative counter.
#include "spindle/sync/wait_group.h"

#include <gtest/gtest.h>

#include "spindle/coro/death_test.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/lifetime_rounds.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;


TEST(WaitGroupTest, ZeroDoesNotBlock) {
  WaitGroup wg;
  wg.wait();
  EXPECT_TRUE(wg.wait_for(0ms));
}

TEST(WaitGroupTest, TimesOutWhileWorkRemains) {
  WaitGroup wg;
  wg.add(1);
  EXPECT_FALSE(wg.wait_for(2ms));
  wg.done();
  EXPECT_TRUE(wg.wait_for(2ms));
}

TEST(WaitGroupTest, ManualExecutorForkJoin) {
  ManualExecutor ex;
  WaitGroup wg;
  int done = 0;
  wg.add(5);
  auto joiner = spawn(ex, [&] {
    wg.wait();
    return done;
  });
  for (int i = 0; i < 5; ++i) spawn(ex, [&] { ++done; wg.done(); }).detach();
  ex.run_all();
  EXPECT_EQ(joiner.join(), 5);
}

TEST(WaitGroupTest, SixtyFourParticipantsOverManyPhases) {
  // Each phase: 56 fibers and 8 threads do work; fiber and thread waiters check all
  // of it is visible once wait() returns.
  const int kPhases = 200 / testing_sizes::kScale;
  Scheduler sched(testing_sizes::unpinned(2, "wg"));
  for (int phase = 0; phase < kPhases; ++phase) {
    WaitGroup wg;
    std::atomic<int> work{0};
    wg.add(64);
    for (int i = 0; i < 56; ++i) spawn(sched, [&] { ++work; wg.done(); }).detach();
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) threads.emplace_back([&] { ++work; wg.done(); });
    auto fiber_waiter = spawn(sched, [&] {
      wg.wait();
      return work.load();
    });
    wg.wait();
    EXPECT_EQ(work.load(), 64);
    EXPECT_EQ(fiber_waiter.join(), 64);
    for (auto& t : threads) t.join();
  }
}

TEST(WaitGroupDeathTest, NegativeCounterDies) {
  detail::set_death_test_style();  // "fast" under qemu (coro/death_test.h)
  EXPECT_DEATH(
      {
        WaitGroup wg;
        wg.add(1);
        wg.done();
        wg.done();
      },
      "WaitGroup 0x.+: negative counter");
}

}  // namespace
}  // namespace spindle

namespace spindle {
namespace {

TEST(WaitGroupLifetimeTest, MayBeDestroyedAsSoonAsWaitReturns) {
  // A done() still inside when the waiter has returned and destroyed the
  // WaitGroup touches freed memory: ASan reports it (sync/lifetime_rounds.h).
  struct TwoParties : WaitGroup {
    TwoParties() { add(2); }
  };
  Scheduler sched(testing_sizes::unpinned(2, "wg-lifetime"));
  int rounds = 0;
  const int ran = testing_lifetime::run_rounds<TwoParties>(
      sched, 20'000 / testing_sizes::kScale,
      [](TwoParties* wg) {
        wg->done();
        wg->done();  // the one that reaches zero and wakes the waiter
      },
      [&rounds](std::unique_ptr<TwoParties> wg) {
        wg->wait();
        wg.reset();
        ++rounds;
      });
  EXPECT_EQ(rounds, ran);  // every round that ran was waited out
  EXPECT_GT(ran, 0);
}

}  // namespace
}  // namespace spindle
