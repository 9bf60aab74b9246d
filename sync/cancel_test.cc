// Cancellation of the sync primitives' waits with a std::stop_token, as users'
// programs do it: a stop requested from another fiber or from a plain thread, a
// stop requested before the wait, a stop racing a normal wake (exactly one of them
// ends the wait, and what the wake hands over is never lost), and a primitive
// destroyed the moment its stopped wait returns.
//
// Each primitive is one small "case" type: wait(token) -> bool (true: the wait
// ended normally), wake() (the normal way to end it), and conserved(waited)
// (what the wake handed over went to the waiter iff its wait returned true).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/channel.h"
#include "spindle/sync/cond_var.h"
#include "spindle/sync/event.h"
#include "spindle/sync/lifetime_rounds.h"
#include "spindle/sync/mutex.h"
#include "spindle/sync/select.h"
#include "spindle/sync/semaphore.h"
#include "spindle/sync/wait_group.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

struct EventCase {
  Event e{Event::Mode::kAutoReset};
  bool wait(const std::stop_token& st) { return e.wait(st); }
  void wake() { e.set(); }
  // The signal was consumed by the waiter, or it is still there.
  bool conserved(bool waited) const { return waited != e.is_set(); }
};

struct TimedEventCase {  // the deadline form, with a deadline far away
  Event e{Event::Mode::kAutoReset};
  bool wait(const std::stop_token& st) { return e.wait_for(1h, st); }
  void wake() { e.set(); }
  bool conserved(bool waited) const { return waited != e.is_set(); }
};

struct SemaphoreCase {
  Semaphore s{0};
  bool wait(const std::stop_token& st) { return s.acquire(st); }
  void wake() { s.release(1); }
  // The permit went to the waiter, or it is still available.
  bool conserved(bool waited) const { return s.available() == (waited ? 0 : 1); }
};

struct WaitGroupCase {
  WaitGroup wg;
  WaitGroupCase() { wg.add(1); }
  bool wait(const std::stop_token& st) { return wg.wait(st); }
  void wake() { wg.done(); }
  bool conserved(bool waited) const { return !waited || wg.count() == 0; }
};

struct CondVarCase {
  Mutex m;
  CondVar cv;
  bool flag = false;  // guarded by m
  bool wait(const std::stop_token& st) {
    std::unique_lock<Mutex> lk(m);
    return cv.wait(lk, st, [&] { return flag; });
  }
  void wake() {
    {
      std::lock_guard<Mutex> g(m);
      flag = true;
    }
    cv.notify_one();
  }
  bool conserved(bool waited) {
    std::lock_guard<Mutex> g(m);
    return !waited || flag;
  }
};

struct RecvCase {
  Channel<int> ch{1};
  bool wait(const std::stop_token& st) { return ch.recv(st).has_value(); }
  void wake() { ch.send(42); }  // buffered: never blocks
  // The value went to the receiver, or it is still buffered.
  bool conserved(bool waited) const { return ch.size() == (waited ? 0u : 1u); }
};

struct SendCase {
  Channel<int> ch{0};  // unbuffered: the sender waits for a receiver
  std::atomic<bool> sender_done{false};
  std::atomic<bool> received{false};
  bool wait(const std::stop_token& st) {
    const bool sent = ch.send(7, st) == ChannelStatus::kOk;
    sender_done.store(true);
    return sent;
  }
  void wake() {  // a receiver that gives up once the sender is gone
    while (!sender_done.load()) {
      if (auto v = ch.try_recv()) {
        received.store(*v == 7);
        return;
      }
      this_fiber::yield();
    }
  }
  // Sent iff received: a stopped send hands nothing over.
  bool conserved(bool waited) const { return waited == received.load(); }
};

struct SelectCase {
  Channel<int> ch{1};
  bool wait(const std::stop_token& st) {
    bool got = false;
    select(recv_case(ch, [&](std::optional<int> v) { got = v.has_value(); }), stop_case(st, [] {}));
    return got;
  }
  void wake() { ch.send(42); }
  bool conserved(bool waited) const { return ch.size() == (waited ? 0u : 1u); }
};

template <class C>
class CancelTest : public ::testing::Test {};
using Cases = ::testing::Types<EventCase, TimedEventCase, SemaphoreCase, WaitGroupCase, CondVarCase, RecvCase,
                               SendCase, SelectCase>;
TYPED_TEST_SUITE(CancelTest, Cases);

// A fiber's wait, stopped by another fiber and by a plain thread, with the stop
// coming (most likely) while it is parked. No wake ever comes: only the stop can
// end these waits, so a stop that does not reach the wait hangs the test.
TYPED_TEST(CancelTest, StopEndsAFibersWaitFromAFiberOrAThread) {
  Scheduler sched(testing_sizes::unpinned(2, "cancel"));
  for (bool from_thread : {false, true}) {
    TypeParam c;
    std::stop_source src;
    std::atomic<bool> waiting{false};
    auto waiter = spawn(sched, [&] {
      waiting = true;
      return c.wait(src.get_token());
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(2ms);  // let it park (either way it must end)
    if (from_thread) {
      src.request_stop();
    } else {
      spawn(sched, [&] { src.request_stop(); }).join();
    }
    EXPECT_FALSE(waiter.join()) << (from_thread ? "stopped from a thread" : "stopped from a fiber");
  }
}

// A plain thread's wait, stopped by a fiber.
TYPED_TEST(CancelTest, StopEndsAThreadsWaitFromAFiber) {
  Scheduler sched(testing_sizes::unpinned(2, "cancel"));
  TypeParam c;
  std::stop_source src;
  std::atomic<bool> waiting{false};
  bool result = true;
  std::thread t([&] {
    waiting = true;
    result = c.wait(src.get_token());
  });
  while (!waiting) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);
  spawn(sched, [&] { src.request_stop(); }).join();
  t.join();
  EXPECT_FALSE(result);
}

// Stop requested before the wait: returns false at once, on a fiber and a thread.
TYPED_TEST(CancelTest, StopRequestedBeforeTheWait) {
  Scheduler sched(testing_sizes::unpinned(1, "cancel"));
  std::stop_source src;
  src.request_stop();
  TypeParam on_fiber;
  EXPECT_FALSE(spawn(sched, [&] { return on_fiber.wait(src.get_token()); }).join());
  TypeParam on_thread;
  EXPECT_FALSE(on_thread.wait(src.get_token()));
}

// A stop and a normal wake race, many times, from a fiber and a plain thread in
// turn: whichever wins, the wait ends exactly once (a double wake corrupts the
// scheduler; a lost one hangs), and what the wake hands over (a signal, a permit,
// a value) is consumed iff the wait returned true.
template <class C>
void stop_races_wake(int rounds) {
  Scheduler sched(testing_sizes::unpinned(2, "cancel-race"));
  int woken = 0, stopped = 0;
  for (int i = 0; i < rounds; ++i) {
    auto c = std::make_unique<C>();
    std::stop_source src;
    auto waiter = spawn(sched, [&] { return c->wait(src.get_token()); });
    if (i % 2 == 0) {
      auto waker = spawn(sched, [&] { c->wake(); });
      src.request_stop();  // from this plain thread
      waker.join();
    } else {
      auto stopper = spawn(sched, [&] { src.request_stop(); });
      c->wake();  // from this plain thread
      stopper.join();
    }
    const bool waited = waiter.join();
    (waited ? woken : stopped)++;
    ASSERT_TRUE(c->conserved(waited)) << "round " << i << ": the wait returned " << waited;
  }
  std::printf("%d rounds: %d woken, %d stopped\n", rounds, woken, stopped);
}

TYPED_TEST(CancelTest, StopRacingAWakeEndsTheWaitExactlyOnce) {
  stop_races_wake<TypeParam>(2'000 / testing_sizes::kScale);
}

// The primitive dies the moment the stopped wait returns, while the stopping
// thread may still be inside request_stop() (sync/lifetime_rounds.h). Nothing of
// the stop path may touch the primitive after letting the waiter go (ASan, with
// the fault injector widening the window).
template <class C>
struct WithSource {
  C c;
  std::stop_source src;
};

TYPED_TEST(CancelTest, MayBeDestroyedAsSoonAsAStoppedWaitReturns) {
  Scheduler sched(testing_sizes::unpinned(2, "cancel-lifetime"));
  using T = WithSource<TypeParam>;
  std::atomic<int> stopped{0};
  const int rounds = 1'000 / testing_sizes::kScale;
  const int ran = testing_lifetime::run_rounds<T>(
      sched, rounds,
      [](T* p) {
        std::stop_source s = p->src;  // a copy: *p may die during request_stop()
        s.request_stop();
      },
      [&](std::unique_ptr<T> obj) {
        if (!obj->c.wait(obj->src.get_token())) ++stopped;
      },
      std::chrono::seconds(10));  // eight cases in one binary
  EXPECT_EQ(stopped.load(), ran);  // every round's wait was stopped
  EXPECT_GT(ran, 0);
}

// The standard's precedent: condition_variable_any::wait(lock, stoken, pred)
// returns pred(), and a true predicate wins over a stop already requested.
TEST(CondVarCancelTest, ReturnsThePredicate) {
  Mutex m;
  CondVar cv;
  std::stop_source src;
  src.request_stop();
  std::unique_lock<Mutex> lk(m);
  EXPECT_TRUE(cv.wait(lk, src.get_token(), [] { return true; }));
  EXPECT_FALSE(cv.wait(lk, src.get_token(), [] { return false; }));
  EXPECT_FALSE(cv.wait_for(lk, std::stop_token{}, 1ms, [] { return false; }));  // timed out
  EXPECT_TRUE(lk.owns_lock());
}

// A stop token never stopped changes nothing: the forms with a token still wait
// for the normal wake (and time out).
TEST(CancelTest, UnstoppedTokenWaitsForTheWake) {
  Scheduler sched(testing_sizes::unpinned(2, "cancel"));
  std::stop_source src;
  Semaphore s;
  auto h = spawn(sched, [&] { return s.acquire(src.get_token()); });
  std::this_thread::sleep_for(2ms);
  s.release();
  EXPECT_TRUE(h.join());
  Event e;
  EXPECT_FALSE(e.wait_for(1ms, src.get_token()));
  Channel<int> ch(1);
  EXPECT_EQ(ch.send(1, src.get_token()), ChannelStatus::kOk);
  EXPECT_EQ(ch.recv(src.get_token()), 1);
  ch.close();
  EXPECT_EQ(ch.send(2, src.get_token()), ChannelStatus::kClosed);  // no throw
}

// select: a stop_case's position is returned; a ready channel case wins over a
// stop already requested; a stop wins over default_case.
TEST(SelectCancelTest, StopCaseRunsAndReadyCasesWin) {
  std::stop_source src;
  Channel<int> ch(1);
  int ran = -1;
  src.request_stop();
  EXPECT_EQ(select(recv_case(ch, [&](std::optional<int>) { ran = 0; }), stop_case(src.get_token(), [&] { ran = 1; })),
            1u);
  EXPECT_EQ(ran, 1);
  ch.send(5);
  EXPECT_EQ(select(stop_case(src.get_token(), [&] { ran = 0; }), recv_case(ch, [&](std::optional<int> v) { ran = *v; })),
            1u);
  EXPECT_EQ(ran, 5);
  EXPECT_EQ(select(recv_case(ch, [&](std::optional<int>) { ran = 0; }), default_case([&] { ran = 2; }),
                   stop_case(src.get_token(), [&] { ran = 3; })),
            2u);
  EXPECT_EQ(ran, 3);
  std::stop_source never;
  EXPECT_EQ(select(timeout_case(1ms, [&] { ran = 4; }), stop_case(never.get_token(), [&] { ran = 5; })), 0u);
  EXPECT_EQ(ran, 4);
}

}  // namespace
}  // namespace spindle
