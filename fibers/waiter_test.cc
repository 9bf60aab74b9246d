// The park/wake seam under stress: no lost wakeups between fibers and plain
// threads, and deadlines that race notifications end each wait exactly once.
#include "spindle/fibers/waiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/spin_lock.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

// A one-slot mailbox built directly on Waiter: put() hands a value to a parked
// taker or stores it; take() waits for one.
// With `sole`, put() ends the wait with notify_sole() (the taker has no deadline
// and put() took it out of the mailbox: nobody else can end its wait).
class Mailbox {
 public:
  explicit Mailbox(bool sole = false) : sole_(sole) {}
  void put(int v) {
    std::unique_lock<detail::SpinLock> lk(lock_);
    if (taker_ != nullptr) {
      Waiter* w = std::exchange(taker_, nullptr);
      *static_cast<int*>(w->data) = v;
      lk.unlock();
      if (sole_) {
        w->notify_sole();
      } else {
        ASSERT_TRUE(w->notify());
      }
      return;
    }
    value_ = v;
    full_ = true;
  }
  int take() {
    std::unique_lock<detail::SpinLock> lk(lock_);
    if (full_) {
      full_ = false;
      return value_;
    }
    int slot = -1;
    Waiter w;
    w.data = &slot;
    taker_ = &w;
    // release() first: once the lock is free the fiber may run elsewhere, and
    // `lk` lives on its stack (see Waiter::wait).
    w.wait([&] {
      lk.release()->unlock();
      return true;
    });
    return slot;
  }

 private:
  const bool sole_;
  detail::SpinLock lock_;  // released by the park callback: see spin_lock.h
  Waiter* taker_ = nullptr;
  int value_ = 0;
  bool full_ = false;
};

class WaiterNotifyTest : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(NotifyAndNotifySole, WaiterNotifyTest, ::testing::Bool());

TEST_P(WaiterNotifyTest, NoLostWakeupsBetweenFibersAndThreads) {
  const int kRounds = 200'000 / testing_sizes::kScale;
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "mailbox"});
  Mailbox to_fiber(GetParam()), to_thread(GetParam());
  auto echo = spawn(sched, [&] {
    long long sum = 0;
    for (int i = 0; i < kRounds; ++i) {
      const int v = to_fiber.take();
      sum += v;
      to_thread.put(v + 1);
    }
    return sum;
  });
  long long thread_sum = 0;
  for (int i = 0; i < kRounds; ++i) {
    to_fiber.put(i);
    thread_sum += to_thread.take();
  }
  const long long n = kRounds;
  EXPECT_EQ(echo.join(), n * (n - 1) / 2);
  EXPECT_EQ(thread_sum, n * (n + 1) / 2);
}

TEST_P(WaiterNotifyTest, NoLostWakeupsBetweenFibersOnDifferentWorkers) {
  const int kRounds = 200'000 / testing_sizes::kScale;
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "fiber-pair"});
  Mailbox a(GetParam()), b(GetParam());
  auto ping = spawn(sched, [&] {
    for (int i = 0; i < kRounds; ++i) {
      a.put(i);
      if (b.take() != i) return false;
    }
    return true;
  });
  auto pong = spawn(sched, [&] {
    for (int i = 0; i < kRounds; ++i) b.put(a.take());
  });
  EXPECT_TRUE(ping.join());
  pong.join();
}

TEST(WaiterTest, DeadlineEndsAWaitNobodyNotifies) {
  Scheduler sched({.workers = 1, .pinning = Pinning::kNone, .name = "deadline"});
  auto h = spawn(sched, [] {
    Waiter w;
    const auto deadline = Clock::now() + 5ms;
    const WakeReason r = w.wait([] { return true; }, deadline);
    return r == WakeReason::kTimedOut && Clock::now() >= deadline;
  });
  EXPECT_TRUE(h.join());
  Waiter on_thread;
  EXPECT_EQ(on_thread.wait([] { return true; }, Clock::now() + 2ms), WakeReason::kTimedOut);
}

TEST(WaiterTest, PublishReturningFalseEndsTheWaitAtOnce) {
  Scheduler sched({.workers = 1, .pinning = Pinning::kNone, .name = "no-wait"});
  auto h = spawn(sched, [] {
    Waiter w;
    return w.wait([] { return false; }) == WakeReason::kNotified;
  });
  EXPECT_TRUE(h.join());
}

TEST(WaiterTest, NotifyRacingTheDeadlineEndsEachWaitOnce) {
  // A notifier thread fires at about the deadline; whoever wins, the fiber resumes
  // exactly once and the loser learns it lost.
  const int kRounds = 3000 / testing_sizes::kScale;
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "race"});
  detail::SpinLock lock;
  Waiter* published = nullptr;
  std::atomic<int> notified_wins{0}, timeouts{0}, failed_notifies{0};
  std::atomic<bool> stop{false};
  std::thread notifier([&] {
    while (!stop.load()) {
      // Notify under the lock: a timed-out waiter takes the lock to withdraw
      // itself, so it cannot vanish while we still point at it.
      std::lock_guard<detail::SpinLock> lk(lock);
      if (Waiter* w = std::exchange(published, nullptr)) {
        if (!w->notify()) ++failed_notifies;
      }
    }
  });
  auto h = spawn(sched, [&] {
    for (int i = 0; i < kRounds; ++i) {
      std::unique_lock<detail::SpinLock> lk(lock);
      Waiter w;
      published = &w;
      const WakeReason r = w.wait([&] {
        lk.release()->unlock();
        return true;
      }, Clock::now() + std::chrono::microseconds(i % 20));
      if (r == WakeReason::kTimedOut) {
        ++timeouts;
        // The notifier may still hold a pointer to w: withdraw it before w dies.
        std::lock_guard<detail::SpinLock> g(lock);
        if (published == &w) published = nullptr;
      } else {
        ++notified_wins;
      }
    }
  });
  h.join();
  stop = true;
  notifier.join();
  EXPECT_EQ(notified_wins + timeouts, kRounds);
  EXPECT_LE(failed_notifies.load(), timeouts.load());
}

}  // namespace
}  // namespace spindle
