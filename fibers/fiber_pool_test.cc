// Stack reuse as a game loop sees it (fibers/fiber_pool.h): a plain thread spawns
// fibers that end on the Scheduler's workers. Their blocks are cached by the
// workers that release them; the spawner must get them back rather than map a new
// stack (tens of microseconds on a VM) for every fiber.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

// 3-8 here (TSan 3-7, 25 with another process busy on a core); more after
// another test's blocks went back to the list (they are handed out in turn, each
// a distinct stack never mapped here). A fiber still ending when the next is
// spawned (its block not back yet) makes the spawner map one, hence a frame's
// pause between spawns. Before the fix: 65, and 257.
constexpr std::size_t kMaxDistinctStacks = testing_sizes::kSanitizerScale > 1 ? 48 : 32;

// The frame address of a fiber's body: the same for every fiber that runs on one
// recycled stack (the same path down from the entry), different across stacks.
[[gnu::noinline]] std::uintptr_t body_frame() { return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)); }

// One fiber at a time, each detached and waited for by the plain thread, as a
// frame of one job would be, 1 ms apart; the fiber ends (and its block is
// released) on a worker. Before the fix the spawner mapped a new stack for each fiber until some
// worker had cached a whole batch (64) while the global list was empty: 65
// distinct stacks for 300 fibers on 2 workers. Now the spawner asks the releasers
// for its blocks (fiber_pool.cc: g_starving).
std::size_t distinct_stacks_of_sequential_spawns(Scheduler& sched, int fibers) {
  std::set<std::uintptr_t> stacks;
  for (int i = 0; i < fibers; ++i) {
    std::atomic<std::uintptr_t> frame{0};
    spawn(FiberOptions{.executor = &sched}, [&] { frame.store(body_frame(), std::memory_order_release); }).detach();
    std::uintptr_t f;
    while ((f = frame.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
    stacks.insert(f);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the rest of the frame
  }
  std::printf("%d fibers ran on %zu distinct stacks\n", fibers, stacks.size());
  return stacks.size();
}

TEST(FiberPoolTest, PlainThreadSpawnerReusesStacksReleasedByWorkers) {
  Scheduler sched({.workers = 2, .name = "pool"});
  EXPECT_LE(distinct_stacks_of_sequential_spawns(sched, 300), kMaxDistinctStacks) << "the spawning thread kept mapping new stacks";
}

// The same after another stack size has filled the global list: blocks of that
// size must not hide that the list has none of this one (a count of all blocks
// did: the workers never gave back, and the spawner mapped a stack per fiber,
// 257 distinct stacks for 300 fibers).
TEST(FiberPoolTest, ReuseHoldsWhenTheGlobalListHoldsAnotherStackSize) {
  {
    Scheduler other({.workers = 2, .stack_size = 192 * 1024, .name = "other"});
    for (int i = 0; i < 200; ++i) {
      std::atomic<bool> ran{false};
      spawn(FiberOptions{.executor = &other}, [&] { ran.store(true, std::memory_order_release); }).detach();
      while (!ran.load(std::memory_order_acquire)) std::this_thread::yield();
    }
  }  // its workers exit: their caches go to the global list
  Scheduler sched({.workers = 2, .name = "pool"});
  EXPECT_LE(distinct_stacks_of_sequential_spawns(sched, 300), kMaxDistinctStacks) << "the spawning thread kept mapping new stacks";
}

}  // namespace
}  // namespace spindle
