#include "spindle/fibers/scope.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "spindle/coro/death_test.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

TEST(ScopeTest, JoinWaitsForEveryChild) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "scope"});
  std::atomic<int> done{0};
  Scope scope(&sched);
  for (int i = 0; i < 100; ++i) {
    scope.spawn([&] {
      this_fiber::sleep_for(1ms);
      ++done;
    });
  }
  scope.join();
  EXPECT_EQ(done.load(), 100);
}

TEST(ScopeTest, FirstExceptionStopsSiblingsAndIsRethrown) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "scope-fail"});
  std::atomic<int> stopped{0};
  auto h = spawn(sched, [&] {
    Scope scope;  // children on this fiber's scheduler
    for (int i = 0; i < 8; ++i) {
      scope.spawn([&] {
        while (!this_fiber::stop_requested()) this_fiber::sleep_for(1ms);
        ++stopped;
      });
    }
    scope.spawn([] {
      this_fiber::sleep_for(5ms);
      throw std::runtime_error("child failed");
    });
    try {
      scope.join();
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  });
  EXPECT_EQ(h.join(), "child failed");
  EXPECT_EQ(stopped.load(), 8);
}

TEST(ScopeDeathTest, UnobservedChildExceptionIsReported) {
  detail::set_death_test_style();  // "fast" under qemu (coro/death_test.h)
  EXPECT_DEATH(
      {
        Scheduler sched({.workers = 1, .pinning = Pinning::kNone, .name = "lost"});
        Scope scope(&sched);
        scope.spawn([] { throw std::runtime_error("nobody looked"); });
      },
      "unobserved child exception: nobody looked");
}

}  // namespace
}  // namespace spindle
