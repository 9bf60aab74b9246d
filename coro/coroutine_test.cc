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

namespace spindle {
namespace {

// transfer_to: one switch from one coroutine into another, which inherits the
// first one's resumer.
TEST(CoroutineTransferTest, NextRunsInPlaceAndReturnsToTheFirstOnesResumer) {
  std::vector<std::string> log;
  Coroutine* a_ptr = nullptr;
  Coroutine b([&] {
    log.push_back("b1");
    EXPECT_EQ(Coroutine::current()->name(), "b");
    Coroutine::current()->transfer_to(*a_ptr);  // back into a, same resumer
    log.push_back("b2");
  }, {.name = "b"});
  Coroutine a([&] {
    log.push_back("a1");
    Coroutine::current()->transfer_to(b);
    log.push_back("a2");
    EXPECT_EQ(Coroutine::current(), a_ptr);
    Coroutine::current()->suspend();
    log.push_back("a3");
  }, {.name = "a"});
  a_ptr = &a;
  a.resume();  // a1, b1, a2: a suspends back to us
  EXPECT_EQ(Coroutine::current(), nullptr);
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "b1", "a2"}));
  EXPECT_FALSE(a.done());
  EXPECT_FALSE(b.done());
  b.resume();  // b continues after its transfer and finishes
  EXPECT_TRUE(b.done());
  a.resume();
  EXPECT_TRUE(a.done());
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "b1", "a2", "b2", "a3"}));
}

TEST(CoroutineTransferTest, FinishingTargetReturnsToTheResumerAndRethrows) {
  Coroutine b([] { throw std::runtime_error("from b"); });
  Coroutine a([&] {
    Coroutine::current()->transfer_to(b);
    ADD_FAILURE() << "a must not run again in this test";
  });
  try {
    a.resume();  // b finishes by throwing: a's resume() returns and rethrows it
    FAIL() << "resume() should have rethrown b's exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "from b");
  }
  EXPECT_TRUE(b.done());
  EXPECT_FALSE(a.done());  // suspended in transfer_to; destroying it unwinds it
}

TEST(CoroutineTransferTest, LongChainsAcrossManyCoroutines) {
  // A ring of coroutines passing the thread round 1000 times by transfer alone.
  constexpr int kRing = 8, kLaps = 1000;
  std::vector<std::unique_ptr<Coroutine>> ring;
  int steps = 0;
  for (int i = 0; i < kRing; ++i) {
    ring.push_back(std::make_unique<Coroutine>([&, i] {
      for (int lap = 0; lap < kLaps; ++lap) {
        ++steps;
        if (i == kRing - 1 && lap == kLaps - 1) return;  // the last one finishes
        Coroutine::current()->transfer_to(*ring[static_cast<std::size_t>((i + 1) % kRing)]);
      }
    }));
  }
  ring[0]->resume();
  EXPECT_EQ(steps, kRing * kLaps);
  EXPECT_TRUE(ring[kRing - 1]->done());
  for (int i = 0; i < kRing - 1; ++i) {
    ring[static_cast<std::size_t>(i)]->resume();  // finish the others
    EXPECT_TRUE(ring[static_cast<std::size_t>(i)]->done());
  }
}

TEST(CoroutineTransferTest, TransferToAFinishedOrRunningCoroutineThrows) {
  Coroutine done([] {});
  done.resume();
  bool threw_done = false, threw_self = false;
  Coroutine a([&] {
    try {
      Coroutine::current()->transfer_to(done);
    } catch (const std::logic_error&) {
      threw_done = true;
    }
    try {
      Coroutine::current()->transfer_to(*Coroutine::current());
    } catch (const std::logic_error&) {
      threw_self = true;
    }
  });
  a.resume();
  EXPECT_TRUE(threw_done);
  EXPECT_TRUE(threw_self);
  EXPECT_TRUE(a.done());
}

TEST(CoroutineTransferDeathTest, TransferFromOutsideIsMisuse) {
  detail::set_death_test_style();
  Coroutine a([] {}, {.name = "outsider"});
  Coroutine b([] {});
  EXPECT_DEATH(a.transfer_to(b), "coroutine 'outsider' .* transfer_to\\(\\) called from outside");
}

}  // namespace
}  // namespace spindle

namespace spindle {
namespace {

TEST(CoroutineTransferTest, FinishIntoContinuesTheSuccessorInsteadOfReturning) {
  std::vector<std::string> log;
  Coroutine b([&] {
    log.push_back("b1");
    Coroutine::current()->suspend();  // to a's resumer, which b inherited
    log.push_back("b2");
  });
  Coroutine a([&] {
    log.push_back("a");
    Coroutine::current()->finish_into(b);
  });
  a.resume();  // a finishes into b; b suspends back to us
  EXPECT_TRUE(a.done());
  EXPECT_FALSE(b.done());
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b1"}));
  b.resume();
  EXPECT_TRUE(b.done());
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b1", "b2"}));
}

TEST(CoroutineTransferTest, AnExceptionCancelsFinishInto) {
  bool b_ran = false;
  Coroutine b([&] { b_ran = true; });
  Coroutine a([&] {
    Coroutine::current()->finish_into(b);
    throw std::runtime_error("a failed");
  });
  EXPECT_THROW(a.resume(), std::runtime_error);
  EXPECT_TRUE(a.done());
  EXPECT_FALSE(b_ran);
  b.resume();
  EXPECT_TRUE(b_ran);
}

TEST(CoroutineTransferTest, FinishIntoAppliesToOneFinishOnly) {
  Coroutine b([] {});
  Coroutine a([] {});
  a.resume();
  a.rearm([&] { Coroutine::current()->finish_into(b); });
  a.resume();
  EXPECT_TRUE(b.done());  // ran in a's place
  a.rearm([] {});
  a.resume();  // must not go into b (finished) again
  EXPECT_TRUE(a.done());
}

}  // namespace
}  // namespace spindle
