// Built at -O2. A coroutine suspends on one thread and is resumed on another; what
// the runtime reads from thread-locals after the switch must be the new thread's.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "spindle/coro/coroutine.h"

namespace spindle {
namespace {

// A one-shot std::latch. Not std::latch itself: libstdc++ 12 builds its waits on
// targets without a futex (mingw-w64) from a shared table of waiter slots, and
// under wine a plain two-thread program that waits on std::latch in a loop hangs
// every few runs once the machine is busy. A mutex and a condition variable do not.
class Gate {
 public:
  void count_down() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

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
    Gate a_parked, b_done;
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
