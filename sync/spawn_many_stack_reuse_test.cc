// spawn_many's batch fibers as a frame loop uses them, in a process of its own:
// the fiber pool is process-wide, and blocks that earlier tests left in it would
// be handed out in turn, so distinct stacks would count them rather than stacks
// mapped. The pool's own tests: fibers/fiber_pool_test.cc.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "spindle/fibers/test_sizes.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/spawn_many.h"

namespace spindle {
namespace {

// As in fibers/fiber_pool_test.cc; 4-20 here, frames back to back (a fiber may
// still be ending when the next frame spawns). Before the fix: 65.
constexpr std::size_t kMaxDistinctStacks = testing_sizes::kSanitizerScale > 1 ? 48 : 32;

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
  }
  std::printf("300 frames' batch fibers ran on %zu distinct stacks\n", stacks.size());
  EXPECT_LE(stacks.size(), kMaxDistinctStacks) << "the main thread kept mapping new stacks";
}

}  // namespace
}  // namespace spindle
