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

#include "spindle/fibers/fiber_pool.h"
#include "spindle/fibers/spawn.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

using detail::FiberPool;

// Stacks the spawning thread may map for 300 fibers: 1 here (the first spawn).
// Before the fix: 65 (and with the release check but a spawner told by
// "released nothing since its last refill": 2-5). Each spawn waits (bounded)
// until the previous fiber's block is back where the spawner can take it, so
// that a worker delayed by a busy machine costs time, not a map: the count
// tells whether blocks come back, not how fast.
constexpr std::size_t kMaxStacksMapped = 8;

// The frame address of a fiber's body: the same for every fiber that runs on one
// recycled stack (the same path down from the entry), different across stacks.
[[gnu::noinline]] std::uintptr_t body_frame() { return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)); }

// Waits until the spawner can take a block without mapping one: released blocks
// come back within microseconds, or a busy machine's timeslice. Bounded, so that
// a pool that keeps them fails by its count instead of hanging; no wait once the
// count is over the bound anyway.
void wait_for_a_block_at_hand(std::size_t made_before) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (FiberPool::at_hand_for_this_thread() == 0 && FiberPool::made_by_this_thread() - made_before <= kMaxStacksMapped &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

// One fiber at a time, each detached and waited for by the plain thread, as a
// frame of one job would be, 1 ms apart; the fiber ends (and its block is
// released) on a worker, which caches it. Before the fix the spawner mapped a
// new stack for each fiber until some worker had cached a whole batch (64) while
// the global list was empty. Now the spawner asks the releasers for its blocks
// (fiber_pool.cc: g_starving). Returns the stacks it mapped.
std::size_t stacks_mapped_by_sequential_spawns(Scheduler& sched, int fibers) {
  const std::size_t made_before = FiberPool::made_by_this_thread();
  std::set<std::uintptr_t> stacks;
  for (int i = 0; i < fibers; ++i) {
    std::atomic<std::uintptr_t> frame{0};
    spawn(FiberOptions{.executor = &sched}, [&] { frame.store(body_frame(), std::memory_order_release); }).detach();
    std::uintptr_t f;
    while ((f = frame.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
    stacks.insert(f);
    wait_for_a_block_at_hand(made_before);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the rest of the frame
  }
  const std::size_t mapped = FiberPool::made_by_this_thread() - made_before;
  std::printf("%d fibers ran on %zu distinct stacks, %zu of them mapped by the spawner\n", fibers, stacks.size(), mapped);
  return mapped;
}

TEST(FiberPoolTest, PlainThreadSpawnerReusesStacksReleasedByWorkers) {
  Scheduler sched({.workers = 2, .name = "pool"});
  EXPECT_LE(stacks_mapped_by_sequential_spawns(sched, 300), kMaxStacksMapped) << "the spawning thread kept mapping new stacks";
}

// The same after another stack size has filled the global list: blocks of that
// size must not hide that the list has none of this one (a count of all blocks
// did: the workers never gave back, and the spawner mapped a stack per fiber).
// The spawner's stack size is one no other test uses, so that no blocks of it
// are in the list from before.
TEST(FiberPoolTest, ReuseHoldsWhenTheGlobalListHoldsAnotherStackSize) {
  {
    Scheduler other({.workers = 2, .stack_size = 192 * 1024, .name = "other"});
    for (int i = 0; i < 200; ++i) {
      std::atomic<bool> ran{false};
      spawn(FiberOptions{.executor = &other}, [&] { ran.store(true, std::memory_order_release); }).detach();
      while (!ran.load(std::memory_order_acquire)) std::this_thread::yield();
    }
  }  // its workers exit: their caches go to the global list
  Scheduler sched({.workers = 2, .stack_size = 160 * 1024, .name = "pool"});
  EXPECT_LE(stacks_mapped_by_sequential_spawns(sched, 300), kMaxStacksMapped) << "the spawning thread kept mapping new stacks";
}

}  // namespace
}  // namespace spindle
