// A fiber's exception state (what `throw;`, std::current_exception() and
// std::uncaught_exceptions() see) is its own: fibers that switch inside catch
// blocks or during unwinding do not see each other's, on one worker (where
// switches are hand-offs from fiber to fiber) or on two (where fibers migrate).
#include <gtest/gtest.h>

#include <atomic>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/os_thread.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

using testing_sizes::unpinned;

std::string join_error(JoinHandle<void>& h) {
  try {
    h.join();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

std::string what_of(const std::exception_ptr& e) {
  if (!e) return "(none)";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

// The program: two fibers rethrow after yielding in their catch blocks.
TEST(FiberExceptionStateTest, RethrowAfterYieldInACatchBlockOnOneWorker) {
  Scheduler sched(unpinned(1, "rethrow-1"));
  auto body = [](std::string n) {
    try {
      throw std::runtime_error(n);
    } catch (...) {
      this_fiber::yield();
      throw;
    }
  };
  for (int round = 0; round < 100; ++round) {
    std::string ea, eb;
    spawn(sched, [&] {
      auto a = spawn(body, std::string("from A"));
      auto b = spawn(body, std::string("from B"));
      ea = join_error(a);
      eb = join_error(b);
    }).join();
    ASSERT_EQ(ea, "from A") << "round " << round;
    ASSERT_EQ(eb, "from B") << "round " << round;
  }
}

TEST(FiberExceptionStateTest, RethrowAfterMigratingBetweenWorkers) {
  Scheduler sched(unpinned(2, "rethrow-2"));
  constexpr int kFibers = 64;
  std::atomic<int> migrations{0}, wrong_current{0};
  auto body = [&](int i) {
    const std::string mine = "fiber " + std::to_string(i);
    try {
      throw std::runtime_error(mine);
    } catch (...) {
      long last = static_cast<long>(detail::current_os_thread_id());
      const auto give_up = Clock::now() + std::chrono::seconds(5);
      for (int k = 0; k < 300 || (migrations.load() == 0 && Clock::now() < give_up); ++k) {
        if (k % 10 == 0) {
          this_fiber::sleep_for(std::chrono::microseconds(20));
        } else {
          this_fiber::yield();
        }
        if (what_of(std::current_exception()) != mine) ++wrong_current;
        const long now = static_cast<long>(detail::current_os_thread_id());
        if (now != last) ++migrations;
        last = now;
      }
      throw;
    }
  };
  std::vector<std::string> errors(kFibers);
  spawn(sched, [&] {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < kFibers; ++i) hs.push_back(spawn(body, i));
    for (int i = 0; i < kFibers; ++i) errors[i] = join_error(hs[i]);
  }).join();
  for (int i = 0; i < kFibers; ++i) EXPECT_EQ(errors[i], "fiber " + std::to_string(i));
  EXPECT_EQ(wrong_current.load(), 0);
  EXPECT_GT(migrations.load(), 0) << "no fiber moved between workers: the test proved nothing";
}

TEST(FiberExceptionStateTest, NestedCatchesAcrossYields) {
  Scheduler sched(unpinned(1, "nested"));
  auto body = [](std::string n) {
    std::string log;
    try {
      throw std::runtime_error(n + "/outer");
    } catch (...) {
      this_fiber::yield();
      try {
        throw std::runtime_error(n + "/inner");
      } catch (...) {
        this_fiber::yield();
        log += what_of(std::current_exception()) + " ";
      }
      this_fiber::yield();
      log += what_of(std::current_exception()) + " ";
    }
    log += what_of(std::current_exception());
    return log;
  };
  std::string la, lb;
  spawn(sched, [&] {
    auto a = spawn(body, std::string("a"));
    auto b = spawn(body, std::string("b"));
    la = a.join();
    lb = b.join();
  }).join();
  EXPECT_EQ(la, "a/inner a/outer (none)");
  EXPECT_EQ(lb, "b/inner b/outer (none)");
}

// Its destructor yields until told to stop, while an exception unwinds its fiber.
struct YieldsWhileUnwinding {
  std::atomic<bool>* release;
  int* seen;
  ~YieldsWhileUnwinding() {
    while (!release->load()) this_fiber::yield();
    *seen = std::uncaught_exceptions();
  }
};

TEST(FiberExceptionStateTest, UncaughtExceptionsIgnoresAFiberUnwindingNearby) {
  Scheduler sched(unpinned(1, "uncaught"));
  std::atomic<bool> release{false};
  int seen_by_unwinding = -1, seen_by_other = -1, caught = 0;
  spawn(sched, [&] {
    auto unwinding = spawn([&] {
      try {
        YieldsWhileUnwinding guard{&release, &seen_by_unwinding};
        throw std::runtime_error("unwinding");
      } catch (const std::runtime_error&) {
        ++caught;
      }
    });
    // `unwinding` ran first (work-first spawn) and is now inside the destructor.
    auto other = spawn([&] {
      seen_by_other = std::uncaught_exceptions();
      release = true;
    });
    other.join();
    unwinding.join();
  }).join();
  EXPECT_EQ(seen_by_other, 0);
  EXPECT_EQ(seen_by_unwinding, 1);
  EXPECT_EQ(caught, 1);
}

TEST(FiberExceptionStateTest, AFiberStartedFromACatchBlockSeesNoException) {
  Scheduler sched(unpinned(1, "fresh"));
  std::string seen;
  spawn(sched, [&] {
    try {
      throw std::runtime_error("parent's");
    } catch (...) {
      spawn([&] { seen = what_of(std::current_exception()); }).join();
      EXPECT_EQ(what_of(std::current_exception()), "parent's");
    }
  }).join();
  EXPECT_EQ(seen, "(none)");
}

}  // namespace
}  // namespace spindle
