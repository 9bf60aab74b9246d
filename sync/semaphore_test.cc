// Semaphore: counting, timeouts, direct hand-off, and a concurrency limit that
// holds under fibers and threads mixed.
#include "spindle/sync/semaphore.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/sync/lifetime_rounds.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

TEST(SemaphoreTest, CountsAndTimesOut) {
  Semaphore s(2);
  EXPECT_TRUE(s.try_acquire());
  s.acquire();
  EXPECT_FALSE(s.try_acquire());
  EXPECT_FALSE(s.try_acquire_for(2ms));
  s.release(2);
  EXPECT_EQ(s.available(), 2);
  EXPECT_TRUE(s.try_acquire_for(2ms));
}

TEST(SemaphoreTest, ReleaseHandsPermitsToWaitersInOrder) {
  ManualExecutor ex;
  Semaphore s(0);
  std::vector<int> order;
  std::vector<JoinHandle<void>> hs;
  // One at a time, each run until it parks, so that they queue in spawn order
  // even when the fault injector makes them yield on the way.
  for (int i = 0; i < 3; ++i) {
    hs.push_back(spawn(ex, [&, i] { s.acquire(); order.push_back(i); }));
    ex.run_all();
  }
  EXPECT_TRUE(order.empty());
  s.release(2);
  EXPECT_FALSE(s.try_acquire());  // handed to the waiters, not to the count
  ex.run_all();
  EXPECT_EQ(order, (std::vector<int>{0, 1}));
  s.release();
  ex.run_all();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  for (auto& h : hs) h.join();
}

TEST(SemaphoreTest, LimitsConcurrencyAcrossFibersAndThreads) {
  const int kIters = 20'000 / testing_sizes::kScale;
  SchedulerOptions o;
  o.workers = 2;
  o.pinning = Pinning::kNone;
  o.name = "sem";
  Scheduler sched(o);
  Semaphore s(3);
  std::atomic<int> inside{0}, max_inside{0}, total{0};
  auto body = [&] {
    for (int i = 0; i < kIters; ++i) {
      if (i % 2 == 0) {
        s.acquire();
      } else if (!s.try_acquire_for(std::chrono::microseconds(50))) {
        continue;
      }
      const int now = ++inside;
      int m = max_inside.load();
      while (now > m && !max_inside.compare_exchange_weak(m, now)) {
      }
      if (i % 64 == 0) this_fiber::yield();
      --inside;
      ++total;
      s.release();
    }
  };
  std::vector<JoinHandle<void>> fibers;
  for (int i = 0; i < 8; ++i) fibers.push_back(spawn(sched, body));
  std::thread t1(body), t2(body);
  for (auto& h : fibers) h.join();
  t1.join();
  t2.join();
  EXPECT_LE(max_inside.load(), 3);
  EXPECT_GE(total.load(), 10 * kIters / 2);
  EXPECT_EQ(s.available(), 3);
}

}  // namespace
}  // namespace spindle

namespace spindle {
namespace {

TEST(SemaphoreLifetimeTest, MayBeDestroyedAsSoonAsAcquireReturns) {
  // Both ways in: the permit handed to a parked acquirer, and the permit taken by
  // the fast path while release() is still finishing (sync/lifetime_rounds.h).
  Scheduler sched(testing_sizes::unpinned(2, "semaphore-lifetime"));
  int round = 0;
  const int ran = testing_lifetime::run_rounds<Semaphore>(
      sched, 20'000 / testing_sizes::kScale, [](Semaphore* s) { s->release(); },
      [&round](std::unique_ptr<Semaphore> s) {
        if (++round % 2 == 0) {
          s->acquire();
        } else {
          while (!s->try_acquire()) this_fiber::yield();
        }
        s.reset();  // a release() still inside would now touch freed memory (ASan)
      });
  EXPECT_EQ(round, ran);  // every round that ran was waited out
  EXPECT_GT(ran, 0);
}

}  // namespace
}  // namespace spindle
