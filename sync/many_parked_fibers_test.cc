// More fibers parked at once than stacks with an mprotect'ed guard page each can
// have: every such stack is two memory mappings, and the kernel's default
// vm.max_map_count (65530) stops them at about 32,765. Guards made with
// MADV_GUARD_INSTALL (coro/stack.h) keep each stack one mapping that merges with
// its neighbours.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "spindle/coro/sanitizers.h"
#include "spindle/coro/stack.h"
#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/event.h"

namespace spindle {
namespace {

// The one knob: how many park at once. 100,000, or 33,000 under ASan (slower
// fibers), still more than 32,768. Under TSan, far fewer: GCC's TSan counts every
// fiber as a thread, dies past 8,128 of them ("Thread limit exceeded"), and its
// cost per fiber grows with their number, so there the test checks parking many
// fibers only; the map count limit is covered by every other config.
#if SPINDLE_TSAN
constexpr int kParkedFibers = 1'000;
#elif SPINDLE_ASAN
constexpr int kParkedFibers = 33'000;
#else
constexpr int kParkedFibers = 100'000;
#endif
static_assert(SPINDLE_TSAN || kParkedFibers > 32'768);

TEST(ManyParkedFibersTest, AllParkOnOneEventAtOnceThenFinish) {
  if (Stack::guard_splits_mapping()) {
    GTEST_SKIP() << "this kernel lacks MADV_GUARD_INSTALL: live stacks are bounded by vm.max_map_count";
  }
  Scheduler sched(testing_sizes::unpinned(2, "parked"));
  Event release;
  std::atomic<int> parked{0}, finished{0};
  std::vector<JoinHandle<void>> handles;
  handles.reserve(kParkedFibers);
  std::string spawn_error;
  try {
    for (int i = 0; i < kParkedFibers; ++i) {
      handles.push_back(spawn(sched, [&] {
        parked.fetch_add(1, std::memory_order_relaxed);
        release.wait();
        finished.fetch_add(1, std::memory_order_relaxed);
      }));
    }
  } catch (const std::exception& e) {
    spawn_error = "spawn #" + std::to_string(handles.size() + 1) + " threw: " + e.what();
  }
  // Every spawned fiber reaches its wait; none can pass it before release.set().
  while (parked.load(std::memory_order_relaxed) < static_cast<int>(handles.size())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(finished.load(), 0);
  release.set();
  for (auto& h : handles) h.join();
  EXPECT_EQ(spawn_error, "");
  EXPECT_EQ(static_cast<int>(handles.size()), kParkedFibers);
  EXPECT_EQ(finished.load(), static_cast<int>(handles.size()));
}

}  // namespace
}  // namespace spindle
