// The C++ runtime's exception state (caught exceptions, uncaught count) belongs to
// each coroutine and moves with it at every switch: resume/suspend, transfer_to,
// finish_into, and across threads.
#include <gtest/gtest.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "spindle/coro/coroutine.h"

namespace spindle {
namespace {

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "(not a std::exception)";
  }
}

// Runs `co` and returns what its resume() threw ("" if nothing).
std::string resume_and_catch(Coroutine& co) {
  try {
    co.resume();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void suspend() { Coroutine::current()->suspend(); }

TEST(ExceptionStateTest, RethrowAfterSuspendingInACatchBlockRethrowsOwnException) {
  auto body = [](const char* name) {
    return [name] {
      try {
        throw std::runtime_error(name);
      } catch (...) {
        suspend();
        throw;
      }
    };
  };
  Coroutine a(body("from A")), b(body("from B"));
  a.resume();
  b.resume();
  EXPECT_EQ(resume_and_catch(a), "from A");
  EXPECT_EQ(resume_and_catch(b), "from B");
}

TEST(ExceptionStateTest, CatchesInterleavedInReverseOrder) {
  auto body = [](const char* name) {
    return [name] {
      try {
        throw std::runtime_error(name);
      } catch (...) {
        suspend();
        throw;
      }
    };
  };
  Coroutine a(body("from A")), b(body("from B"));
  a.resume();
  b.resume();
  EXPECT_EQ(resume_and_catch(b), "from B");  // the one caught last finishes first
  EXPECT_EQ(resume_and_catch(a), "from A");
}

TEST(ExceptionStateTest, NestedCatchesUnwindInOrderAcrossSwitches) {
  std::string log;
  auto body = [&log](std::string name) {
    return [&log, name] {
      try {
        throw std::runtime_error(name + ".outer");
      } catch (const std::exception& outer) {
        suspend();
        try {
          throw std::logic_error(name + ".inner");
        } catch (...) {
          suspend();
          log += what_of(std::current_exception()) + " ";
        }
        suspend();
        log += what_of(std::current_exception()) + " ";
        try {
          throw;
        } catch (const std::exception& again) {
          log += std::string(again.what()) + " ";
          if (&again != &outer) log += "(copy!) ";
        }
      }
      log += std::current_exception() ? "leaked " : "clear ";
    };
  };
  Coroutine a(body("a")), b(body("b"));
  for (int i = 0; i < 4; ++i) {
    a.resume();
    b.resume();
  }
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(b.done());
  EXPECT_EQ(log, "a.inner b.inner a.outer a.outer clear b.outer b.outer clear ");
}

TEST(ExceptionStateTest, CurrentExceptionIsTheCoroutinesOwn) {
  std::exception_ptr inside_fresh, inside_after;
  Coroutine co([&] {
    inside_fresh = std::current_exception();  // resumed from a catch block: not ours
    try {
      throw std::runtime_error("coroutine's");
    } catch (...) {
      suspend();
      inside_after = std::current_exception();
    }
  });
  try {
    throw std::runtime_error("thread's");
  } catch (...) {
    co.resume();
    EXPECT_EQ(what_of(std::current_exception()), "thread's");  // the coroutine is parked in its catch
    co.resume();
    EXPECT_EQ(what_of(std::current_exception()), "thread's");
  }
  EXPECT_FALSE(std::current_exception());
  EXPECT_FALSE(inside_fresh) << "a new coroutine saw its resumer's exception: " << what_of(inside_fresh);
  ASSERT_TRUE(inside_after);
  EXPECT_EQ(what_of(inside_after), "coroutine's");
}

// Suspends in its destructor, which runs while an exception unwinds the stack.
struct SuspendsWhileUnwinding {
  int* seen;
  ~SuspendsWhileUnwinding() {
    *seen = std::uncaught_exceptions();
    suspend();
    seen[1] = std::uncaught_exceptions();
  }
};

TEST(ExceptionStateTest, UncaughtExceptionsCountsOnlyTheCoroutinesOwn) {
  int unwinding_seen[2] = {-1, -1};
  int other_seen = -1;
  Coroutine unwinding([&] {
    try {
      SuspendsWhileUnwinding guard{unwinding_seen};
      throw std::runtime_error("unwinding");
    } catch (const std::runtime_error&) {
    }
  });
  Coroutine other([&] { other_seen = std::uncaught_exceptions(); });
  unwinding.resume();  // parked inside the destructor, mid-unwind
  EXPECT_EQ(unwinding_seen[0], 1);
  EXPECT_EQ(std::uncaught_exceptions(), 0) << "the resumer sees the coroutine's unwinding";
  other.resume();
  EXPECT_EQ(other_seen, 0) << "another coroutine sees the parked one's unwinding";
  unwinding.resume();
  EXPECT_EQ(unwinding_seen[1], 1);
  EXPECT_TRUE(unwinding.done());
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

TEST(ExceptionStateTest, TransferToCarriesTheStateBothWays) {
  std::exception_ptr seen_by_next;
  Coroutine next([&] {
    seen_by_next = std::current_exception();
    try {
      throw std::runtime_error("next's");
    } catch (...) {
      suspend();  // back to first's resumer, inside a catch block
    }
  });
  Coroutine first([&] {
    try {
      throw std::runtime_error("first's");
    } catch (...) {
      Coroutine::current()->transfer_to(next);
      throw;
    }
  });
  first.resume();  // first transfers to next, which suspends: back here
  EXPECT_FALSE(seen_by_next) << "transfer_to handed over the caught exception: " << what_of(seen_by_next);
  EXPECT_FALSE(std::current_exception());
  EXPECT_EQ(resume_and_catch(first), "first's");
  next.resume();
  EXPECT_TRUE(next.done());
  EXPECT_FALSE(std::current_exception());
}

TEST(ExceptionStateTest, FinishIntoStartsTheSuccessorWithItsOwnState) {
  std::exception_ptr seen_by_successor;
  int uncaught_in_successor = -1;
  Coroutine successor([&] {
    seen_by_successor = std::current_exception();
    uncaught_in_successor = std::uncaught_exceptions();
    try {
      throw std::runtime_error("successor's");
    } catch (...) {
      suspend();
      throw;
    }
  });
  Coroutine first([&] { Coroutine::current()->finish_into(successor); });
  try {
    throw std::runtime_error("thread's");
  } catch (...) {
    first.resume();  // first finishes into successor, which suspends in its catch
    EXPECT_EQ(what_of(std::current_exception()), "thread's");
  }
  EXPECT_FALSE(seen_by_successor);
  EXPECT_EQ(uncaught_in_successor, 0);
  EXPECT_EQ(resume_and_catch(successor), "successor's");
}

// A one-shot gate (see coro/migration_test.cc for why not std::latch).
class Gate {
 public:
  void open() {
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

TEST(ExceptionStateTest, StateMovesWithTheCoroutineToAnotherThread) {
  constexpr int kHops = 50;
  Coroutine migrant([] {
    try {
      throw std::runtime_error("migrant's");
    } catch (...) {
      for (int i = 0; i < kHops; ++i) suspend();
      throw;
    }
  });
  std::string result;
  std::string wrong;
  for (int hop = 0; hop <= kHops; ++hop) {
    // Each hop resumes the migrant on a new thread that is inside a catch block of
    // its own; another thread holds a caught exception at the same time.
    Gate b_caught, a_done;
    std::thread b([&] {
      try {
        throw std::runtime_error("b's");
      } catch (...) {
        b_caught.open();
        a_done.wait();
        if (what_of(std::current_exception()) != "b's") wrong += "b lost its exception; ";
      }
    });
    b_caught.wait();
    std::thread a([&] {
      try {
        throw std::runtime_error("a's");
      } catch (...) {
        const std::string r = resume_and_catch(migrant);
        if (!r.empty()) result = r;
        if (what_of(std::current_exception()) != "a's") wrong += "a lost its exception; ";
      }
      if (std::current_exception()) wrong += "a's catch stack leaked; ";
      a_done.open();
    });
    a.join();
    b.join();
  }
  EXPECT_TRUE(migrant.done());
  EXPECT_EQ(result, "migrant's");
  EXPECT_EQ(wrong, "");
}

TEST(ExceptionStateTest, DestroyingACoroutineParkedInACatchBlock) {
  bool caught_forced_unwind_outside_catch = false;
  {
    Coroutine co([&] {
      try {
        throw std::runtime_error("parked");
      } catch (...) {
        suspend();  // ~Coroutine throws ForcedUnwind from here
      }
    });
    co.resume();
    EXPECT_FALSE(std::current_exception());
    caught_forced_unwind_outside_catch = true;
  }
  EXPECT_TRUE(caught_forced_unwind_outside_catch);
  EXPECT_FALSE(std::current_exception());
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

}  // namespace
}  // namespace spindle
