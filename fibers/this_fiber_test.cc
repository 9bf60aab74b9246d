#include "spindle/fibers/this_fiber.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>

#include "spindle/fibers/fiber_local.h"
#include "spindle/fibers/spawn.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

TEST(ThisFiberTest, YieldingFiberDoesNotStarveOthersOnOneWorker) {
  Scheduler sched({.workers = 1, .pinning = Pinning::kNone, .name = "one"});
  std::atomic<bool> other_ran{false};
  auto spinner = spawn(sched, [&] {
    int yields = 0;
    while (!other_ran.load()) {
      this_fiber::yield();
      ++yields;
    }
    return yields;
  });
  auto other = spawn(sched, [&] { other_ran = true; });
  other.join();
  EXPECT_GE(spinner.join(), 1);
}

TEST(ThisFiberTest, PingPongingFibersDoNotStarveTheQueue) {
  // Two fibers readying each other through runnext would run forever without the
  // runnext budget; a third fiber must still get its turn.
  Scheduler sched({.workers = 1, .pinning = Pinning::kNone, .name = "pingpong"});
  std::atomic<bool> third_ran{false};
  auto a = spawn(sched, [&] {
    while (!third_ran.load()) this_fiber::yield();
  });
  auto b = spawn(sched, [&] {
    while (!third_ran.load()) this_fiber::yield();
  });
  auto c = spawn(sched, [&] { third_ran = true; });
  c.join();
  a.join();
  b.join();
  EXPECT_TRUE(third_ran.load());
}

TEST(ThisFiberTest, SleepWakesNoEarlierThanAsked) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "sleepers"});
  std::vector<JoinHandle<Clock::duration>> hs;
  for (int ms : {1, 5, 10, 20, 30}) {
    hs.push_back(spawn(sched, [ms] {
      const auto start = Clock::now();
      this_fiber::sleep_for(std::chrono::milliseconds(ms));
      return (Clock::now() - start) - std::chrono::milliseconds(ms);
    }));
  }
  for (auto& h : hs) EXPECT_GE(h.join(), Clock::duration::zero());
}

TEST(ThisFiberTest, ManySleepersOnFewWorkers) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "many-sleepers"});
  std::vector<JoinHandle<bool>> hs;
  for (int i = 0; i < 2000; ++i) {
    hs.push_back(spawn(sched, [i] {
      const auto deadline = Clock::now() + std::chrono::microseconds(100 * (i % 50));
      this_fiber::sleep_until(deadline);
      return Clock::now() >= deadline;
    }));
  }
  int early = 0;
  for (auto& h : hs) early += !h.join();
  EXPECT_EQ(early, 0);
}

TEST(ThisFiberTest, IdAndName) {
  EXPECT_EQ(this_fiber::id(), 0u);
  EXPECT_FALSE(this_fiber::on_fiber());
  Scheduler sched({.workers = 1, .pinning = Pinning::kNone, .name = "names"});
  auto h = spawn(FiberOptions{.executor = &sched, .name = "worker-bee"}, [] {
    return std::make_pair(this_fiber::id(), std::string(this_fiber::name()));
  });
  auto g = spawn(sched, [] { return this_fiber::id(); });
  auto [id, name] = h.join();
  EXPECT_NE(id, 0u);
  EXPECT_NE(g.join(), id);
  EXPECT_EQ(name, "worker-bee");
}

struct Counted {
  static inline std::atomic<int> live{0};
  int value = 0;
  Counted() { ++live; }
  ~Counted() { --live; }
};

TEST(FiberLocalTest, EachFiberHasItsOwnValueAndItDiesWithTheFiber) {
  FiberLocal<Counted> local;
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "locals"});
  std::vector<JoinHandle<bool>> hs;
  for (int i = 0; i < 100; ++i) {
    hs.push_back(spawn(sched, [&local, i] {
      local->value = i;
      for (int k = 0; k < 5; ++k) this_fiber::yield();  // others write their own meanwhile
      return local->value == i;
    }));
  }
  int wrong = 0;
  for (auto& h : hs) wrong += !h.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(Counted::live.load(), 0) << "values are destroyed when their fiber ends";
  local->value = 7;  // plain thread: the thread's own instance
  EXPECT_EQ(local->value, 7);
}

}  // namespace
}  // namespace spindle
