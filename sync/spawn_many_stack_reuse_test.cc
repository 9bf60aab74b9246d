// spawn_many's batch fibers as a frame loop uses them: the main thread must not
// map a stack per frame. The pool's own tests: fibers/fiber_pool_test.cc.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "spindle/fibers/fiber_pool.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/spawn_many.h"

namespace spindle {
namespace {

using detail::FiberPool;

// Stacks the main thread may map in 300 frames: 1-2 here (the first frames).
// Before the fix: 64. Each frame waits (bounded) until the batch fiber's block is
// back where the main thread can take it, as in fibers/fiber_pool_test.cc: a
// worker delayed by a busy machine costs time, not a map.
constexpr std::size_t kMaxStacksMapped = 8;

// A frame loop's batch fibers end on the workers; the main thread must get their
// stacks back rather than map a new one per frame (fibers/fiber_pool.cc's
// g_starving; before it, every frame of the game_loop demo's first ~1.5 s).
// A fiber's stack is told by the frame address of a non-inlined call. Each frame's
// two jobs wait for each other, so a batch fiber runs one of them in every frame
// (the joiner cannot take both) and no frame leaves its fiber queued behind it.
[[gnu::noinline]] std::uintptr_t frame_address() { return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)); }

TEST(SpawnManyStackReuseTest, FramesFromAPlainThreadReuseTheBatchFibersStacks) {
  Scheduler sched({.workers = 2, .name = "frames"});
  const std::thread::id main_thread = std::this_thread::get_id();
  const std::size_t made_before = FiberPool::made_by_this_thread();
  std::set<std::uintptr_t> stacks;
  for (int frame = 0; frame < 300; ++frame) {
    std::atomic<int> inside{0};
    std::uintptr_t on_fiber[2] = {0, 0};
    spawn_many(sched, 2, [&](std::size_t j) {
      inside.fetch_add(1, std::memory_order_relaxed);
      while (inside.load(std::memory_order_relaxed) < 2) std::this_thread::yield();
      if (std::this_thread::get_id() != main_thread) on_fiber[j] = frame_address();
    }).join();
    const std::uintptr_t s = on_fiber[0] != 0 ? on_fiber[0] : on_fiber[1];
    ASSERT_NE(s, 0u) << "frame " << frame << ": no job ran on a batch fiber";
    stacks.insert(s);
    // The rest of the frame: the batch fiber ends on a worker after join()
    // returns; bounded, and no wait once the count is over the bound anyway.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    while (FiberPool::at_hand_for_this_thread() == 0 && FiberPool::made_by_this_thread() - made_before <= kMaxStacksMapped &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const std::size_t mapped = FiberPool::made_by_this_thread() - made_before;
  std::printf("300 frames' batch fibers ran on %zu distinct stacks, %zu of them mapped by the main thread\n",
              stacks.size(), mapped);
  EXPECT_LE(mapped, kMaxStacksMapped) << "the main thread kept mapping new stacks";
}

}  // namespace
}  // namespace spindle
