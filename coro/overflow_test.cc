// Stack overflow by one large frame: a function whose locals are bigger than the
// room left on its stack moves the stack pointer past the usable range in one
// step and touches only the lowest bytes. Every such frame of up to kGuardRegion
// (256 KiB) must land in the guard region and end the process with the overflow
// message, never write into whatever memory lies below the guard.
//
// Built with -fno-stack-clash-protection (see BUILD.bazel): the frames here are
// not probed page by page, as in a user's build without that flag. The same file
// is built a second time with the flag (overflow_clash_test), adding a 1 MiB frame.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

#if !defined(_WIN32)
#include <sys/mman.h>
#endif

#include "spindle/coro/coroutine.h"
#include "spindle/coro/death_test.h"

namespace spindle {
namespace {

constexpr std::size_t kKiB = 1024;

// A frame of `kBytes` that writes only its lowest bytes.
template <std::size_t kBytes>
[[gnu::noinline]] int large_frame() {
  volatile char frame[kBytes];
  frame[0] = 1;
  frame[1] = 2;
  return frame[0] + frame[1];
}

// Maps read-write memory right below `co`'s guard region (as another fiber's live
// stack would be), so that a frame that jumped the guard writes there silently
// instead of faulting in unmapped memory. Returns whether that layout was made.
bool map_a_neighbour_below(const Coroutine& co) {
#if defined(_WIN32)
  (void)co;
  return false;
#else
  constexpr std::size_t kNeighbour = 1024 * kKiB;
  char* guard_lo = static_cast<char*>(co.stack().bottom()) - Stack::guard_size();
  void* want = guard_lo - kNeighbour;
  void* got = mmap(want, kNeighbour, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (got == MAP_FAILED) return false;  // something is mapped there already
  if (got != want) {  // an old kernel took the address as a hint only
    munmap(got, kNeighbour);
    return false;
  }
  return true;
#endif
}

template <std::size_t kBytes>
void run_large_frame_on_64k_stack() {
  detail::end_process_on_unhandled_exception();
  Coroutine co([] { large_frame<kBytes>(); }, {.stack_size = 64 * kKiB, .name = "big-frame"});
  map_a_neighbour_below(co);
  co.resume();
}

#define SPINDLE_OVERFLOW_MESSAGE "stack overflow in fiber big-frame \\(stack size 65536 bytes\\)"

TEST(LargeFrameDeathTest, Frame72KiBOn64KiBStack) {
  detail::set_death_test_style();
  EXPECT_DEATH(run_large_frame_on_64k_stack<72 * kKiB>(), SPINDLE_OVERFLOW_MESSAGE);
}

TEST(LargeFrameDeathTest, Frame80KiBOn64KiBStack) {
  detail::set_death_test_style();
  EXPECT_DEATH(run_large_frame_on_64k_stack<80 * kKiB>(), SPINDLE_OVERFLOW_MESSAGE);
}

TEST(LargeFrameDeathTest, Frame96KiBOn64KiBStack) {
  detail::set_death_test_style();
  EXPECT_DEATH(run_large_frame_on_64k_stack<96 * kKiB>(), SPINDLE_OVERFLOW_MESSAGE);
}

TEST(LargeFrameDeathTest, Frame256KiBOn64KiBStack) {
  detail::set_death_test_style();
  EXPECT_DEATH(run_large_frame_on_64k_stack<256 * kKiB>(), SPINDLE_OVERFLOW_MESSAGE);
}

TEST(LargeFrameDeathTest, Frame200KiBAfterUsingMostOfTheStack) {
  // The frame starts near the bottom of the stack, not the top.
  detail::set_death_test_style();
  EXPECT_DEATH(
      {
        detail::end_process_on_unhandled_exception();
        Coroutine co([] {
          volatile char used[56 * kKiB];
          used[sizeof used - 1] = 1;
          used[0] = 1;
          large_frame<200 * kKiB>();
        }, {.stack_size = 64 * kKiB, .name = "big-frame"});
        map_a_neighbour_below(co);
        co.resume();
      },
      SPINDLE_OVERFLOW_MESSAGE);
}

#if !defined(_WIN32)
// POSIX: a touch anywhere in the guard region is reported, from its top byte down
// to its lowest (Windows has a single guard page, covered by coroutine_test).
void touch_below_bottom(std::size_t offset) {
  Coroutine co([offset] {
    volatile char* p = static_cast<char*>(Coroutine::current()->stack().bottom()) - offset;
    *p = 1;
  }, {.stack_size = 64 * kKiB, .name = "big-frame"});
  map_a_neighbour_below(co);
  co.resume();
}

TEST(GuardRegionDeathTest, EveryPartOfTheGuardRegionIsReported) {
  detail::set_death_test_style();
  ASSERT_GE(Stack::guard_size(), kGuardRegion);
  const std::size_t guard = Stack::guard_size();
  for (std::size_t offset : {std::size_t{1}, 4 * kKiB + 1, 64 * kKiB, guard / 2, guard - 8, guard}) {
    EXPECT_DEATH(touch_below_bottom(offset), SPINDLE_OVERFLOW_MESSAGE) << "offset " << offset;
  }
}
#endif

#if SPINDLE_TEST_STACK_CLASH_PROTECTION
// Built with -fstack-clash-protection (overflow_clash_test): the compiler touches
// every page of a large frame from the top down, so any frame, however large,
// faults in the guard region first. What the README advises for code with frames
// beyond kGuardRegion.
TEST(LargeFrameDeathTest, OneMiBFrameWithStackClashProtection) {
  detail::set_death_test_style();
  EXPECT_DEATH(run_large_frame_on_64k_stack<1024 * kKiB>(), SPINDLE_OVERFLOW_MESSAGE);
}
#endif

TEST(LargeFrameTest, FramesThatFitRunNormally) {
  int result = 0;
  Coroutine co([&] { result = large_frame<48 * kKiB>(); }, {.stack_size = 64 * kKiB});
  co.resume();
  EXPECT_EQ(result, 3);
}

}  // namespace
}  // namespace spindle
