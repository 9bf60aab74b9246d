// CondVar: with spindle::Mutex and std::mutex, predicate and timed forms, and no
// lost wakeup over many hand-offs between fibers and threads.
#include "spindle/sync/cond_var.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/sync/lifetime_rounds.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/mutex.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;


TEST(CondVarTest, TimedWaitsTimeOut) {
  CondVar cv;
  Mutex m;
  std::unique_lock<Mutex> lk(m);
  EXPECT_EQ(cv.wait_for(lk, 2ms), std::cv_status::timeout);
  EXPECT_TRUE(lk.owns_lock());
  EXPECT_FALSE(cv.wait_for(lk, 2ms, [] { return false; }));
  EXPECT_TRUE(cv.wait_until(lk, std::chrono::system_clock::now() + 1ms, [] { return true; }));
}

TEST(CondVarTest, NotifyAllWakesFibersAndThreads) {
  Scheduler sched(testing_sizes::unpinned(2, "cv"));
  CondVar cv;
  std::mutex m;  // any Lockable
  bool go = false;
  std::atomic<int> through{0};
  std::vector<JoinHandle<void>> fibers;
  auto body = [&] {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [&] { return go; });
    ++through;
  };
  for (int i = 0; i < 16; ++i) fibers.push_back(spawn(sched, body));
  std::thread t(body);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(through.load(), 0);
  {
    std::lock_guard<std::mutex> g(m);
    go = true;
  }
  cv.notify_all();
  for (auto& h : fibers) h.join();
  t.join();
  EXPECT_EQ(through.load(), 17);
}

TEST(CondVarTest, NotifyOneOnManualExecutor) {
  ManualExecutor ex;
  CondVar cv;
  Mutex m;
  int tokens = 0, served = 0;
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 3; ++i) {
    hs.push_back(spawn(ex, [&] {
      std::unique_lock<Mutex> lk(m);
      cv.wait(lk, [&] { return tokens > 0; });
      --tokens;
      ++served;
    }));
  }
  ex.run_all();
  for (int i = 1; i <= 3; ++i) {
    {
      std::lock_guard<Mutex> g(m);
      ++tokens;
    }
    cv.notify_one();
    ex.run_all();
    EXPECT_EQ(served, i);
  }
  for (auto& h : hs) h.join();
}

// A turn variable passed between two parties under one Mutex: each hand-off is a
// notify that must not be lost.
void hand_offs(int rounds, bool second_is_thread, std::size_t workers) {
  Scheduler sched(testing_sizes::unpinned(workers, "cv-pingpong"));
  Mutex m;
  CondVar cv;
  int turn = 0;
  long long moves = 0;
  auto party = [&](int me) {
    for (int i = 0; i < rounds; ++i) {
      std::unique_lock<Mutex> lk(m);
      cv.wait(lk, [&] { return turn == me; });
      turn = 1 - me;
      ++moves;
      cv.notify_one();
    }
  };
  auto a = spawn(sched, party, 0);
  if (second_is_thread) {
    party(1);
  } else {
    spawn(sched, party, 1).join();
  }
  a.join();
  EXPECT_EQ(moves, 2LL * rounds);
}

TEST(CondVarTest, NoLostWakeupFibersOneWorker) { hand_offs(250'000 / testing_sizes::kScale, false, 1); }
TEST(CondVarTest, NoLostWakeupFibersTwoWorkers) { hand_offs(250'000 / testing_sizes::kScale, false, 2); }
TEST(CondVarTest, NoLostWakeupFiberAndThread) { hand_offs(100'000 / testing_sizes::kScale, true, 2); }

}  // namespace
}  // namespace spindle

namespace spindle {
namespace {

TEST(CondVarLifetimeTest, MayBeDestroyedAsSoonAsWaitReturns) {
  // A waiter that was blocked may destroy the condition variable as soon as its
  // wait returns, even while the notify_one() that woke it is still returning (the
  // notifier here notifies after unlocking the mutex, which is allowed).
  struct Shared {
    Mutex m;
    CondVar cv;
    bool waiting = false;  // set under m just before the wait: m is free only once it parked
    bool ready = false;
  };
  Scheduler sched(testing_sizes::unpinned(2, "condvar-lifetime"));
  int rounds = 0;
  const int ran = testing_lifetime::run_rounds<Shared>(
      sched, 20'000 / testing_sizes::kScale,
      [](Shared* p) {
        for (;;) {
          {
            std::lock_guard<Mutex> g(p->m);
            if (p->waiting) {
              p->ready = true;
              break;
            }
          }
          std::this_thread::yield();
        }
        p->cv.notify_one();  // the waiter is blocked: only this can wake it
      },
      [&rounds](std::unique_ptr<Shared> s) {
        {
          std::unique_lock<Mutex> lk(s->m);
          s->waiting = true;
          s->cv.wait(lk, [&] { return s->ready; });
        }
        s.reset();  // a notify_one() still inside would now touch freed memory (ASan)
        ++rounds;
      });
  EXPECT_EQ(rounds, ran);  // every round that ran was waited out
  EXPECT_GT(ran, 0);
}

}  // namespace
}  // namespace spindle
