// Cancellation of sleeps and joins: this_fiber::sleep_for/sleep_until end on the
// fiber's own stop request (JoinHandle::request_stop, a Scope stopping its
// children) and on a std::stop_token; JoinHandle::join(stop_token) gives up and
// leaves the handle joinable. Stops from fibers and from plain threads, before the
// wait and racing its normal end.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include "spindle/fibers/scope.h"
#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

// Without cancellation these sleeps last an hour: the test would time out.
TEST(SleepCancelTest, RequestStopEndsTheFibersSleepFromAThreadOrAFiber) {
  Scheduler sched(testing_sizes::unpinned(2, "sleep-stop"));
  for (bool from_fiber : {false, true}) {
    std::atomic<bool> sleeping{false};
    auto h = spawn(sched, [&] {
      sleeping = true;
      return this_fiber::sleep_for(1h);
    });
    while (!sleeping) std::this_thread::yield();
    std::this_thread::sleep_for(2ms);  // most likely parked by now; either way it must end
    if (from_fiber) {
      spawn(sched, [&] { h.request_stop(); }).join();
    } else {
      h.request_stop();
    }
    EXPECT_FALSE(h.join());
  }
}

TEST(SleepCancelTest, AStoppedFiberDoesNotSleepAtAll) {
  Scheduler sched(testing_sizes::unpinned(1, "sleep-stop"));
  std::atomic<bool> go{false};
  auto h = spawn(sched, [&] {
    while (!go) this_fiber::yield();
    const bool slept = this_fiber::sleep_for(1h);
    const bool until = this_fiber::sleep_until(Clock::now() + 1h);
    return !slept && !until;
  });
  h.request_stop();
  go = true;
  EXPECT_TRUE(h.join());
}

TEST(SleepCancelTest, FullSleepReturnsTrue) {
  Scheduler sched(testing_sizes::unpinned(1, "sleep"));
  EXPECT_TRUE(spawn(sched, [] { return this_fiber::sleep_for(1ms); }).join());
  EXPECT_TRUE(this_fiber::sleep_for(1ms));  // a plain thread
  std::stop_source never;
  EXPECT_TRUE(this_fiber::sleep_for(1ms, never.get_token()));
}

// The token form, on a fiber and on a plain thread, stopped from the other kind.
TEST(SleepCancelTest, TokenEndsASleepOnAFiberOrAThread) {
  Scheduler sched(testing_sizes::unpinned(2, "sleep-token"));
  {
    std::stop_source src;
    auto h = spawn(sched, [&] { return this_fiber::sleep_for(1h, src.get_token()); });
    std::this_thread::sleep_for(2ms);
    src.request_stop();  // from this thread
    EXPECT_FALSE(h.join());
  }
  {
    std::stop_source src;
    auto stopper = spawn(sched, [&] {
      this_fiber::sleep_for(2ms);
      src.request_stop();  // from a fiber
    });
    EXPECT_FALSE(this_fiber::sleep_for(1h, src.get_token()));  // this plain thread
    stopper.join();
  }
  std::stop_source stopped;
  stopped.request_stop();
  EXPECT_FALSE(this_fiber::sleep_until(Clock::now() + 1h, stopped.get_token()));
}

// The story of the defect: a server's graceful shutdown. A Scope's first failure
// stops its siblings, and sleeping siblings now wake at once instead of sleeping
// out their hour.
TEST(SleepCancelTest, ScopeFailureWakesSleepingSiblings) {
  Scheduler sched(testing_sizes::unpinned(2, "scope-sleep"));
  std::atomic<int> cut_short{0};
  auto h = spawn(sched, [&] {
    Scope scope;
    for (int i = 0; i < 8; ++i) {
      scope.spawn([&] {
        if (!this_fiber::sleep_for(1h)) ++cut_short;
      });
    }
    scope.spawn([] {
      this_fiber::sleep_for(1ms);
      throw std::runtime_error("shutdown");
    });
    scope.join();
  });
  EXPECT_THROW(h.join(), std::runtime_error);
  EXPECT_EQ(cut_short.load(), 8);
}

// The stop races the deadline and a stop arriving just before the fiber parks:
// every sleep ends exactly once (a double wake would run the fiber twice and
// corrupt the scheduler; a lost one would hang here).
TEST(SleepCancelTest, StopRacingTheDeadline) {
  Scheduler sched(testing_sizes::unpinned(2, "sleep-race"));
  const int rounds = 3'000 / testing_sizes::kScale;
  int stopped = 0;
  for (int i = 0; i < rounds; ++i) {
    auto h = spawn(sched, [i] { return this_fiber::sleep_for(std::chrono::microseconds(i % 50)); });
    if (i % 3 == 0) {
      spawn(sched, [&h] { h.request_stop(); }).join();
    } else {
      h.request_stop();
    }
    if (!h.join()) ++stopped;
  }
  std::printf("%d sleeps, %d cut short\n", rounds, stopped);
}

TEST(JoinCancelTest, StoppedJoinLeavesTheHandleJoinable) {
  Scheduler sched(testing_sizes::unpinned(2, "join-stop"));
  std::atomic<bool> release{false};
  auto target = spawn(sched, [&] {
    while (!release) this_fiber::sleep_for(100us);
    return 42;
  });
  {
    std::stop_source src;
    auto joiner = spawn(sched, [&] { return target.join(src.get_token()); });  // a fiber joins
    std::this_thread::sleep_for(2ms);
    src.request_stop();  // from a plain thread
    EXPECT_EQ(joiner.join(), std::nullopt);
  }
  {
    std::stop_source src;
    auto stopper = spawn(sched, [&] {
      this_fiber::sleep_for(2ms);
      src.request_stop();  // from a fiber
    });
    EXPECT_EQ(target.join(src.get_token()), std::nullopt);  // a plain thread joins
    stopper.join();
  }
  {
    std::stop_source src;
    src.request_stop();
    EXPECT_EQ(target.join(src.get_token()), std::nullopt);  // stopped before the wait
  }
  EXPECT_TRUE(target.joinable());
  release = true;
  std::stop_source never;
  EXPECT_EQ(target.join(never.get_token()), 42);
  EXPECT_FALSE(target.joinable());
}

TEST(JoinCancelTest, FinishedFiberIsJoinedEvenIfStopped) {
  ManualExecutor ex;
  auto v = spawn(ex, [] {});
  auto r = spawn(ex, [] { return 7; });
  auto e = spawn(ex, [] { throw std::runtime_error("boom"); });
  ex.run_all();  // all three have finished
  std::stop_source src;
  src.request_stop();
  // Its outcome wins over a stop requested before the join.
  EXPECT_TRUE(v.join(src.get_token()));
  EXPECT_EQ(r.join(src.get_token()), 7);
  EXPECT_THROW(e.join(src.get_token()), std::runtime_error);
}

// The stop races the joined fiber's finish, many times, with joiners on fibers
// and plain threads: the join either gets the result, or gives up and a second
// join gets it; never both, never neither. This is where a finishing fiber still
// holds a stopped joiner's Waiter (Fiber::withdraw_joiner's kFinishing).
TEST(JoinCancelTest, StopRacingTheFinish) {
  Scheduler sched(testing_sizes::unpinned(2, "join-race"));
  const int rounds = 3'000 / testing_sizes::kScale;
  int stopped = 0;
  for (int i = 0; i < rounds; ++i) {
    std::stop_source src;
    auto target = spawn(sched, [i] { return i; });
    std::optional<int> got;
    if (i % 2 == 0) {
      auto joiner = spawn(sched, [&] { return target.join(src.get_token()); });
      src.request_stop();
      got = joiner.join();
    } else {
      auto stopper = spawn(sched, [&] { src.request_stop(); });
      got = target.join(src.get_token());
      stopper.join();
    }
    if (!got) {
      ++stopped;
      ASSERT_TRUE(target.joinable());
      got = target.join();
    }
    ASSERT_EQ(*got, i);
    ASSERT_FALSE(target.joinable());
  }
  std::printf("%d joins, %d stopped first\n", rounds, stopped);
}

}  // namespace
}  // namespace spindle
