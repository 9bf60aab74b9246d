// Event: manual and auto reset, timeouts, and no lost wakeup over many hand-offs
// between fibers and plain threads.
#include "spindle/sync/event.h"

#include <gtest/gtest.h>

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


TEST(EventTest, ManualResetReleasesEveryoneAndStaysSet) {
  Scheduler sched(testing_sizes::unpinned(2, "event"));
  Event e;
  std::atomic<int> through{0};
  std::vector<JoinHandle<void>> fibers;
  for (int i = 0; i < 10; ++i) fibers.push_back(spawn(sched, [&] { e.wait(); ++through; }));
  std::thread t([&] { e.wait(); ++through; });
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(through.load(), 0);
  e.set();
  for (auto& h : fibers) h.join();
  t.join();
  EXPECT_EQ(through.load(), 11);
  EXPECT_TRUE(e.is_set());
  e.wait();  // still set: returns at once
  e.reset();
  EXPECT_FALSE(e.wait_for(1ms));
}

TEST(EventTest, AutoResetReleasesOneAtATime) {
  ManualExecutor ex;
  Event e(Event::Mode::kAutoReset);
  int through = 0;
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 3; ++i) hs.push_back(spawn(ex, [&] { e.wait(); ++through; }));
  ex.run_all();
  EXPECT_EQ(through, 0);
  e.set();
  ex.run_all();
  EXPECT_EQ(through, 1);
  EXPECT_FALSE(e.is_set());  // consumed by the waiter
  e.set();
  e.set();
  ex.run_all();
  EXPECT_EQ(through, 3);
  for (auto& h : hs) h.join();
  e.set();  // nobody waits: stays set for the next wait
  EXPECT_TRUE(e.is_set());
  EXPECT_TRUE(e.wait_for(0ms));
  EXPECT_FALSE(e.is_set());
}

TEST(EventTest, WaitForTimesOutOnFibersAndThreads) {
  Scheduler sched(testing_sizes::unpinned(1, "event-timeout"));
  Event e;
  auto h = spawn(sched, [&] {
    const auto start = Clock::now();
    return !e.wait_for(5ms) && Clock::now() - start >= 5ms;
  });
  EXPECT_TRUE(h.join());
  EXPECT_FALSE(e.wait_for(2ms));
  // An auto-reset signal given after a timed-out wait is not lost.
  Event a(Event::Mode::kAutoReset);
  EXPECT_FALSE(a.wait_for(1ms));
  a.set();
  EXPECT_TRUE(a.wait_for(1ms));
}

// Two parties pass a turn back and forth through two auto-reset events.
void ping_pong(int rounds, bool second_is_thread, std::size_t workers) {
  Scheduler sched(testing_sizes::unpinned(workers, "event-pingpong"));
  Event to_a(Event::Mode::kAutoReset), to_b(Event::Mode::kAutoReset);
  long long a_count = 0, b_count = 0;
  auto a = spawn(sched, [&] {
    for (int i = 0; i < rounds; ++i) {
      to_b.set();
      to_a.wait();
      ++a_count;
    }
  });
  auto b_body = [&] {
    for (int i = 0; i < rounds; ++i) {
      to_b.wait();
      ++b_count;
      to_a.set();
    }
  };
  if (second_is_thread) {
    b_body();
  } else {
    spawn(sched, b_body).join();
  }
  a.join();
  EXPECT_EQ(a_count, rounds);
  EXPECT_EQ(b_count, rounds);
}

TEST(EventTest, NoLostWakeupFiberToFiberOneWorker) { ping_pong(250'000 / testing_sizes::kScale, false, 1); }
TEST(EventTest, NoLostWakeupFiberToFiberTwoWorkers) { ping_pong(250'000 / testing_sizes::kScale, false, 2); }
TEST(EventTest, NoLostWakeupFiberToThread) { ping_pong(100'000 / testing_sizes::kScale, true, 2); }

TEST(EventTest, TimedWaitsRacingSetLoseNothing) {
  // set() races timeouts; every signal is either taken by a waiter or left set.
  const int kRounds = 20'000 / testing_sizes::kScale;
  Scheduler sched(testing_sizes::unpinned(2, "event-race"));
  Event e(Event::Mode::kAutoReset);
  std::atomic<int> got{0};
  auto waiter = spawn(sched, [&] {
    for (int i = 0; i < kRounds; ++i) {
      if (e.wait_for(std::chrono::microseconds(i % 7))) ++got;
    }
  });
  int sets = 0;
  for (int i = 0; i < kRounds / 2; ++i, ++sets) e.set();
  waiter.join();
  const int leftover = e.is_set() ? 1 : 0;
  EXPECT_LE(got.load() + leftover, sets);
  EXPECT_GE(got.load() + leftover, 1);
}

}  // namespace
}  // namespace spindle

namespace spindle {
namespace {

TEST(EventLifetimeTest, MayBeDestroyedAsSoonAsWaitReturns) {
  // A set() still inside when the waiter has returned and destroyed the Event
  // touches freed memory: ASan reports it (sync/lifetime_rounds.h).
  Scheduler sched(testing_sizes::unpinned(2, "event-lifetime"));
  int rounds = 0;
  const int ran = testing_lifetime::run_rounds<Event>(
      sched, 20'000 / testing_sizes::kScale, [](Event* e) { e->set(); },
      [&rounds](std::unique_ptr<Event> e) {
        e->wait();
        e.reset();
        ++rounds;
      });
  EXPECT_EQ(rounds, ran);  // every round that ran was waited out
  EXPECT_GT(ran, 0);
}

}  // namespace
}  // namespace spindle
