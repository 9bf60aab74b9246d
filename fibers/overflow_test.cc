// A fiber on a Scheduler that overflows its stack, by deep recursion or by one
// frame larger than the stack, ends the process with the overflow message naming
// it, never corrupts a neighbouring fiber's stack. Built with
// -fno-stack-clash-protection: the large frames are not probed page by page, as
// in a user's build without that flag.
#include <gtest/gtest.h>

#include "spindle/coro/death_test.h"

#include <atomic>
#include <cstddef>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

constexpr std::size_t kKiB = 1024;

template <std::size_t kBytes>
[[gnu::noinline]] int large_frame() {
  volatile char frame[kBytes];
  frame[0] = 1;  // the lowest bytes only: the pages in between are never touched
  return frame[0];
}

// The overflowing fiber's stack is mapped first, its neighbours' after it (mmap
// places them below, where a frame that jumps the guard would write), each with
// live data on its stack.
template <std::size_t kBytes>
void overflow_among_neighbours() {
  Scheduler sched(testing_sizes::unpinned(1, "overflow"));
  std::atomic<bool> go{false};
  auto big = spawn(FiberOptions{.executor = &sched, .name = "big-frame", .stack_size = 64 * kKiB}, [&] {
    while (!go.load()) this_fiber::yield();
    large_frame<kBytes>();
  });
  std::vector<JoinHandle<void>> neighbours;
  for (int i = 0; i < 16; ++i) {
    neighbours.push_back(spawn(FiberOptions{.executor = &sched, .stack_size = 64 * kKiB}, [&] {
      volatile int live = 42;
      while (!go.load()) this_fiber::yield();
      for (int k = 0; k < 100 && live == 42; ++k) this_fiber::yield();
    }));
  }
  go = true;
  big.join();
  for (auto& n : neighbours) n.join();
}

#define SPINDLE_FIBER_OVERFLOW "stack overflow in fiber big-frame \\(stack size 65536 bytes\\)"

TEST(FiberOverflowDeathTest, Frame72KiBOn64KiBStack) {
  detail::set_death_test_style();  // "fast" under qemu (coro/death_test.h)
  EXPECT_DEATH(overflow_among_neighbours<72 * kKiB>(), SPINDLE_FIBER_OVERFLOW);
}

TEST(FiberOverflowDeathTest, Frame96KiBOn64KiBStack) {
  detail::set_death_test_style();  // "fast" under qemu (coro/death_test.h)
  EXPECT_DEATH(overflow_among_neighbours<96 * kKiB>(), SPINDLE_FIBER_OVERFLOW);
}

TEST(FiberOverflowDeathTest, Frame256KiBOn64KiBStack) {
  detail::set_death_test_style();  // "fast" under qemu (coro/death_test.h)
  EXPECT_DEATH(overflow_among_neighbours<256 * kKiB>(), SPINDLE_FIBER_OVERFLOW);
}

}  // namespace
}  // namespace spindle
