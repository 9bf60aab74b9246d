#include "spindle/fibers/this_fiber.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

// Fibers on a Scheduler hand their worker straight to the next fiber (no trip
// through the worker's loop). These tests pin down what the loop still owes
// everyone while fibers hand the worker round among themselves.

TEST(HandOffTest, TimersFireWhileTwoFibersYieldToEachOther) {
  // One worker, two fibers yielding forever until a sleeper wakes: if hand-offs
  // never let the loop check its timers, the sleeper never wakes and this hangs.
  Scheduler sched({.workers = 1, .pinning = Pinning::kNone, .name = "handoff-timer"});
  std::atomic<bool> woke{false};
  auto sleeper = spawn(sched, [&] {
    this_fiber::sleep_for(2ms);
    woke = true;
  });
  auto a = spawn(sched, [&] {
    while (!woke.load()) this_fiber::yield();
  });
  auto b = spawn(sched, [&] {
    while (!woke.load()) this_fiber::yield();
  });
  sleeper.join();
  a.join();
  b.join();
  EXPECT_TRUE(woke.load());
}

TEST(HandOffTest, OutsideSubmissionsRunWhileTwoFibersYieldToEachOther) {
  // The global queue (plain threads' spawns) is polled every 61 ticks even when
  // every tick is a hand-off.
  Scheduler sched({.workers = 1, .pinning = Pinning::kNone, .name = "handoff-global"});
  std::atomic<bool> stop{false};
  std::atomic<int> yields{0};
  auto a = spawn(sched, [&] {
    while (!stop.load()) {
      this_fiber::yield();
      yields++;
    }
  });
  auto b = spawn(sched, [&] {
    while (!stop.load()) this_fiber::yield();
  });
  while (yields.load() < 1000) std::this_thread::yield();  // the pair is under way
  for (int i = 0; i < 100; ++i) spawn(sched, [] {}).join();  // each must get its turn
  stop = true;
  a.join();
  b.join();
}

TEST(HandOffTest, YieldingFibersStayStealableWhileAWorkerIsIdle) {
  // Two busy fibers that yield must end up running at the same time on the two
  // workers. A yielded fiber kept where thieves cannot see it (runnext) while the
  // other worker is idle would keep them on one worker and this would hang.
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "handoff-steal"});
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  auto busy = [&] {
    while (!overlapped.load()) {
      inside++;
      const auto until = Clock::now() + 200us;
      while (Clock::now() < until && !overlapped.load()) {
        if (inside.load() == 2) overlapped = true;
      }
      inside--;
      this_fiber::yield();
    }
  };
  auto a = spawn(sched, busy);
  auto b = spawn(sched, busy);
  a.join();
  b.join();
  EXPECT_TRUE(overlapped.load());
}

TEST(HandOffTest, WorkFirstSpawnChainsKeepEveryResult) {
  // A fiber spawning and joining children one at a time hands its worker to each
  // child; its own continuation waits first in line. Checked sums on 1 and 2
  // workers, children also spawning grandchildren.
  for (std::size_t workers : {1u, 2u}) {
    Scheduler sched({.workers = workers, .pinning = Pinning::kNone, .name = "handoff-spawn"});
    const long long sum = spawn(sched, [] {
      long long total = 0;
      for (int i = 0; i < 20000; ++i) {
        total += spawn([i] { return spawn([i] { return 2LL * i; }).join() + 1; }).join();
      }
      return total;
    }).join();
    EXPECT_EQ(sum, 20000LL * 19999 + 20000) << workers << " worker(s)";
  }
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


// Control blocks are pooled and keep their table of FiberLocal slots (allocated
// on a fiber's first access): the next fiber on a recycled block must see fresh
// values, not its predecessor's, and a fiber that touches no FiberLocal must not
// disturb the ones that do.
struct CountedOnFibers {  // only fibers touch it: the gtest thread holds none
  static inline std::atomic<int> live{0};
  int value = 0;
  CountedOnFibers() { ++live; }
  ~CountedOnFibers() { --live; }
};

TEST(FiberLocalTest, ARecycledFiberStartsWithFreshValues) {
  FiberLocal<CountedOnFibers> local;
  Scheduler sched({.workers = 1, .name = "recycle"});  // one worker: blocks come back to its cache
  for (int round = 0; round < 200; ++round) {
    const bool uses_local = round % 3 != 2;
    const int seen = spawn(sched, [&local, round, uses_local] {
      if (!uses_local) return -1;
      const int before = local->value;
      local->value = round + 1;
      return before;
    }).join();
    if (uses_local) {
      EXPECT_EQ(seen, 0) << "round " << round << " saw an earlier fiber's value";
    }
    ASSERT_EQ(CountedOnFibers::live.load(), 0) << "round " << round << ": a value outlived its fiber";
  }
}

// A user's thread_local whose destructor allocates and fills heap blocks. If the
// runtime's per-thread state had been freed by the time it runs (as mingw's
// emulated TLS frees thread_locals' storage before their destructors run), these
// blocks take its place and overwrite it.
struct HeapScribbler {
  static inline std::mutex lock;
  static inline std::vector<void*> blocks;  // freed by the test
  ~HeapScribbler() {
    std::vector<void*> mine;
    mine.reserve(4 * 256);
    for (std::size_t size = 16; size <= 4096; size += 16) {
      for (int i = 0; i < 4; ++i) {
        void* p = std::malloc(size);
        std::memset(p, 0, size);
        mine.push_back(p);
      }
    }
    std::lock_guard<std::mutex> lk(lock);
    blocks.insert(blocks.end(), mine.begin(), mine.end());
  }
};

struct CountedOnThreads {
  static inline std::atomic<int> live{0};
  int value = 0;
  CountedOnThreads() { ++live; }
  ~CountedOnThreads() { --live; }
};

TEST(FiberLocalTest, PlainThreadsValueIsDestroyedWhenTheThreadExits) {
  FiberLocal<CountedOnThreads> local;
  for (int round = 0; round < 20; ++round) {
    std::thread t([&local, round] {
      local->value = round;
      // Constructed after the thread's FiberLocal storage, so destroyed before it.
      thread_local HeapScribbler scribbler;
      (void)&scribbler;
      EXPECT_EQ(local->value, round);
    });
    t.join();
    ASSERT_EQ(CountedOnThreads::live.load(), 0) << "round " << round << ": the thread's value outlived it";
  }
  for (void* p : HeapScribbler::blocks) std::free(p);
  HeapScribbler::blocks.clear();
}

}  // namespace
}  // namespace spindle
