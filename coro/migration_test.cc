// Built at -O2. A coroutine suspends on one thread and is resumed on another; what
// the runtime reads from thread-locals after the switch must be the new thread's.
#include <gtest/gtest.h>

#include <latch>
#include <thread>

#include "spindle/coro/coroutine.h"

namespace spindle {
namespace {

TEST(MigrationTest, CurrentIsReReadAfterResumingOnAnotherThread) {
  constexpr int kHops = 200;
  int wrong = 0;
  Coroutine migrant([&] {
    for (;;) {  // ends by forced unwind when the test destroys it
      if (Coroutine::current() == nullptr || Coroutine::current()->name() != "migrant") ++wrong;
      Coroutine::current()->suspend();
    }
  }, {.name = "migrant"});

  for (int hop = 0; hop < kHops; ++hop) {
    // Thread A resumes the migrant, then parks inside a coroutine of its own ("anchor")
    // so that A's current() is a different coroutine while B runs the migrant: a
    // stale thread-local address would make the migrant see "anchor".
    std::latch a_parked(1), b_done(1);
    std::thread a([&] {
      migrant.resume();
      Coroutine anchor([&] {
        a_parked.count_down();
        b_done.wait();
      }, {.name = "anchor"});
      anchor.resume();
    });
    a_parked.wait();
    std::thread b([&] {
      migrant.resume();
      b_done.count_down();
    });
    b.join();
    a.join();
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(Coroutine::current(), nullptr);
}

}  // namespace
}  // namespace spindle
