#include "spindle/coro/coroutine.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "spindle/coro/death_test.h"

namespace spindle {
namespace {

TEST(CoroutineTest, ResumeRunsUntilSuspendThenFinishes) {
  std::vector<int> trace;
  Coroutine co([&] {
    trace.push_back(1);
    Coroutine::current()->suspend();
    trace.push_back(2);
  });
  EXPECT_FALSE(co.started());
  EXPECT_TRUE(trace.empty());
  co.resume();
  EXPECT_EQ(trace, (std::vector<int>{1}));
  EXPECT_TRUE(co.started());
  EXPECT_FALSE(co.done());
  co.resume();
  EXPECT_EQ(trace, (std::vector<int>{1, 2}));
  EXPECT_TRUE(co.done());
}

TEST(CoroutineTest, CurrentIsTheRunningCoroutineAndNullOutside) {
  EXPECT_EQ(Coroutine::current(), nullptr);
  Coroutine* seen = nullptr;
  Coroutine co([&] { seen = Coroutine::current(); });
  co.resume();
  EXPECT_EQ(seen, &co);
  EXPECT_EQ(Coroutine::current(), nullptr);
}

TEST(CoroutineTest, NestedCoroutinesRestoreCurrent) {
  std::vector<std::string> trace;
  Coroutine outer([&] {
    Coroutine inner([&] {
      trace.push_back(Coroutine::current()->name() == "inner" ? "inner" : "?");
      Coroutine::current()->suspend();
      trace.push_back("inner again");
    }, {.name = "inner"});
    inner.resume();
    trace.push_back(Coroutine::current()->name() == "outer" ? "outer" : "?");
    Coroutine::current()->suspend();
    inner.resume();
    trace.push_back(inner.done() ? "inner done" : "?");
  }, {.name = "outer"});
  outer.resume();
  outer.resume();
  EXPECT_EQ(trace, (std::vector<std::string>{"inner", "outer", "inner again", "inner done"}));
  EXPECT_TRUE(outer.done());
}

TEST(CoroutineTest, ResumingAFinishedCoroutineThrows) {
  Coroutine co([] {});
  co.resume();
  EXPECT_THROW(co.resume(), std::logic_error);
}

TEST(CoroutineTest, NamesAreKeptAndTruncated) {
  Coroutine a([] {}, {.name = "renderer"});
  Coroutine b([] {}, {.name = std::string(100, 'x')});
  EXPECT_EQ(a.name(), "renderer");
  EXPECT_EQ(b.name().size(), 31u);
  EXPECT_NE(a.id(), b.id());
}

TEST(CoroutineTest, ExceptionCaughtInsideTheCoroutine) {
  int caught = 0;
  Coroutine co([&] {
    for (int i = 0; i < 3; ++i) {
      try {
        throw std::runtime_error("inside");
      } catch (const std::runtime_error&) {
        ++caught;
      }
      Coroutine::current()->suspend();
    }
  });
  while (!co.done()) co.resume();
  EXPECT_EQ(caught, 3);
}

TEST(CoroutineTest, EscapingExceptionIsRethrownByResume) {
  Coroutine co([] {
    Coroutine::current()->suspend();
    throw std::runtime_error("escaped");
  });
  co.resume();
  try {
    co.resume();
    FAIL() << "resume() should have rethrown";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "escaped");
  }
  EXPECT_TRUE(co.done());
}

TEST(CoroutineTest, ThousandsOfCoroutinesThrow) {
  StackPool pool;
  int rethrown = 0;
  for (int i = 0; i < 5000; ++i) {
    Coroutine co([i] {
      std::vector<int> on_stack(16, i);  // something to unwind
      Coroutine::current()->suspend();
      throw std::out_of_range(std::to_string(on_stack[3]));
    }, {.pool = &pool});
    co.resume();
    try {
      co.resume();
    } catch (const std::out_of_range& e) {
      rethrown += std::stoi(e.what()) == i;
    }
  }
  EXPECT_EQ(rethrown, 5000);
}

struct SetOnDestroy {
  bool* flag;
  ~SetOnDestroy() { *flag = true; }
};

TEST(CoroutineTest, DestroyingAnUnfinishedCoroutineRunsItsDestructors) {
  bool local_destroyed = false;
  bool capture_destroyed = false;
  bool after_suspend_ran = false;
  {
    auto captured = std::shared_ptr<SetOnDestroy>(new SetOnDestroy{&capture_destroyed});
    Coroutine co([&, captured] {
      SetOnDestroy local{&local_destroyed};
      Coroutine::current()->suspend();
      after_suspend_ran = true;
    });
    captured.reset();
    co.resume();
    EXPECT_FALSE(local_destroyed);
    EXPECT_FALSE(capture_destroyed);
  }
  EXPECT_TRUE(local_destroyed);
  EXPECT_TRUE(capture_destroyed);
  EXPECT_FALSE(after_suspend_ran);
}

TEST(CoroutineTest, DestroyingANeverStartedCoroutineDestroysItsCallable) {
  bool destroyed = false;
  bool ran = false;
  {
    auto captured = std::shared_ptr<SetOnDestroy>(new SetOnDestroy{&destroyed});
    Coroutine co([&ran, captured] { ran = true; });
    captured.reset();
    EXPECT_FALSE(destroyed);
  }
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(ran);
}

// Uses about `depth` KiB of stack; the volatile buffer and the use of the result
// after the call keep the compiler from turning the recursion into a loop.
int recurse(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  if (depth == 0) return frame[0];
  return recurse(depth - 1) + frame[0];
}

TEST(CoroutineTest, DeepRecursionWithinTheStackWorks) {
  int result = -1;
  Coroutine co([&] {
    const int depth = static_cast<int>(Coroutine::current()->stack().size() / 4096);  // ~1/4 of it
    result = recurse(depth) == recurse(depth) ? depth : -1;
  });
  co.resume();
  EXPECT_GT(result, 8);
}

TEST(CoroutineDeathTest, GuardPageHitReportsStackOverflow) {
  detail::set_death_test_style();
  EXPECT_DEATH(
      {
        Coroutine co([] { recurse(1 << 30); }, {.stack_size = 32 * 1024, .name = "deep-diver"});
        co.resume();
      },
      "stack overflow in fiber deep-diver \\(stack size 32768 bytes\\)");
}

TEST(CoroutineDeathTest, OverflowOfAnUnnamedCoroutineNamesItsId) {
  detail::set_death_test_style();
  EXPECT_DEATH(
      {
        Coroutine co([] { recurse(1 << 30); });
        co.resume();
      },
      "stack overflow in fiber #" SPINDLE_RE_DIGITS);
}

TEST(CoroutineDeathTest, SuspendFromOutsideIsMisuse) {
  detail::set_death_test_style();
  Coroutine co([] {}, {.name = "victim"});
  EXPECT_DEATH(co.suspend(), "coroutine 'victim' .* suspend\\(\\) called from outside");
}

TEST(CoroutineDeathTest, SwallowingTheForcedUnwindIsReported) {
  detail::set_death_test_style();
  EXPECT_DEATH(
      {
        Coroutine co([] {
          for (;;) {
            try {
              Coroutine::current()->suspend();
            } catch (...) {
            }
          }
        }, {.name = "stubborn"});
        co.resume();
      },
      "coroutine 'stubborn' .* swallowed the forced unwind");
}

TEST(CoroutineTest, LargeCallableIsRejectedClearly) {
  struct Huge {
    char bytes[64 * 1024];
    void operator()() const {}
  };
  auto huge = std::make_unique<Huge>();
  EXPECT_THROW(Coroutine(*huge, {.stack_size = 64 * 1024}), std::invalid_argument);
}

}  // namespace
}  // namespace spindle

namespace spindle {
namespace {

TEST(CoroutineTest, RearmReusesTheStackForANewBody) {
  int runs = 0;
  Coroutine co([&] { ++runs; });
  co.resume();
  ASSERT_TRUE(co.done());
  const void* top = co.stack().top();
  const auto first_id = co.id();
  co.rearm([&] {
    ++runs;
    Coroutine::current()->suspend();
    ++runs;
  }, "second life");
  EXPECT_FALSE(co.done());
  EXPECT_EQ(co.stack().top(), top);
  EXPECT_NE(co.id(), first_id);
  EXPECT_EQ(co.name(), "second life");
  co.resume();
  EXPECT_THROW(co.rearm([] {}), std::logic_error);  // suspended, not finished
  co.resume();
  EXPECT_EQ(runs, 3);
  EXPECT_TRUE(co.done());
}

}  // namespace
}  // namespace spindle
