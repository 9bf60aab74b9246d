// Exploration over the real primitives: many seeds of the deterministic simulator
// each, with fault points inside the critical sections so the simulator can
// interleave there. Any deadlock, lost item or broken invariant fails with its seed.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sync/barrier.h"
#include "spindle/sync/channel.h"
#include "spindle/sync/cond_var.h"
#include "spindle/sync/event.h"
#include "spindle/sync/mutex.h"
#include "spindle/sync/semaphore.h"
#include "spindle/sync/wait_group.h"
#include "spindle/testing/gtest_explore.h"

namespace spindle::testing {
namespace {

constexpr int kSeeds = 10'000;

TEST(ExploreSync, MutexCounter) {
  SPINDLE_EXPLORE(kSeeds, [] {
    Mutex m;
    int counter = 0;
    std::vector<JoinHandle<void>> hs;
    for (int f = 0; f < 3; ++f) hs.push_back(spawn([&] {
      for (int i = 0; i < 4; ++i) {
        std::lock_guard<Mutex> g(m);
        const int seen = counter;
        fault_point();
        counter = seen + 1;
      }
    }));
    for (auto& h : hs) h.join();
    EXPECT_EQ(counter, 12);
  });
}

TEST(ExploreSync, WaitGroupReleasesTheWaiterExactlyWhenAllAreDone) {
  SPINDLE_EXPLORE(kSeeds, [] {
    WaitGroup wg;
    std::atomic<int> finished{0};
    wg.add(4);
    for (int f = 0; f < 4; ++f) spawn([&] {
      fault_point();
      finished++;
      wg.done();
    }).detach();
    wg.wait();
    EXPECT_EQ(finished.load(), 4);
  });
}

TEST(ExploreSync, ChannelDeliversEveryItemOnceAcrossClose) {
  SPINDLE_EXPLORE(kSeeds, [] {
    Channel<int> ch(1);
    std::vector<int> got(6, 0);
    std::vector<JoinHandle<void>> hs;
    for (int p = 0; p < 2; ++p) hs.push_back(spawn([&ch, p] {
      for (int i = 0; i < 3; ++i) {
        fault_point();
        ch.send(p * 3 + i);
      }
    }));
    std::vector<JoinHandle<void>> consumers;
    for (int c = 0; c < 2; ++c) consumers.push_back(spawn([&] {
      while (auto v = ch.recv()) got[static_cast<std::size_t>(*v)]++;
    }));
    for (auto& h : hs) h.join();
    ch.close();
    for (auto& c : consumers) c.join();
    for (int v : got) EXPECT_EQ(v, 1);
  });
}

TEST(ExploreSync, UnbufferedChannelRendezvous) {
  SPINDLE_EXPLORE(kSeeds, [] {
    Channel<int> ch(0);
    auto sender = spawn([&] {
      for (int i = 0; i < 4; ++i) ch.send(i);
      ch.close();
    });
    int expected = 0;
    while (auto v = ch.recv()) EXPECT_EQ(*v, expected++);
    EXPECT_EQ(expected, 4);
    sender.join();
  });
}

TEST(ExploreSync, SemaphoreNeverAdmitsMoreThanItsCount) {
  SPINDLE_EXPLORE(kSeeds, [] {
    Semaphore sem(2);
    int inside = 0, most = 0;
    std::vector<JoinHandle<void>> hs;
    for (int f = 0; f < 4; ++f) hs.push_back(spawn([&] {
      sem.acquire();
      most = std::max(most, ++inside);
      fault_point();
      --inside;
      sem.release();
    }));
    for (auto& h : hs) h.join();
    EXPECT_LE(most, 2);
  });
}

TEST(ExploreSync, CondVarHandOffLosesNoWakeup) {
  SPINDLE_EXPLORE(kSeeds, [] {
    Mutex m;
    CondVar cv;
    int produced = 0, consumed = 0;
    auto consumer = spawn([&] {
      std::unique_lock<Mutex> lk(m);
      while (consumed < 3) {
        cv.wait(lk, [&] { return produced > consumed; });
        ++consumed;
      }
    });
    for (int i = 0; i < 3; ++i) {
      fault_point();
      {
        std::lock_guard<Mutex> g(m);
        ++produced;
      }
      cv.notify_one();
    }
    consumer.join();
    EXPECT_EQ(consumed, 3);
  });
}

TEST(ExploreSync, EventAndBarrierPhases) {
  SPINDLE_EXPLORE(kSeeds, [] {
    Event go;
    Barrier barrier(3);
    int phase_sum = 0;
    std::vector<JoinHandle<void>> hs;
    for (int f = 0; f < 3; ++f) hs.push_back(spawn([&] {
      go.wait();
      for (int phase = 0; phase < 2; ++phase) {
        fault_point();
        ++phase_sum;
        barrier.arrive_and_wait();
        EXPECT_GE(phase_sum, 3 * (phase + 1));
      }
    }));
    fault_point();
    go.set();
    for (auto& h : hs) h.join();
    EXPECT_EQ(phase_sum, 6);
  });
}

}  // namespace
}  // namespace spindle::testing
