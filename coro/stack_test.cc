#include "spindle/coro/stack.h"

#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>

#include "spindle/coro/coroutine.h"
#include "spindle/coro/death_test.h"
#include "spindle/coro/stack_pool.h"

namespace spindle {
namespace {

TEST(StackTest, SizeIsRoundedUpToPagesAndUsable) {
  Stack s = Stack::allocate(10000);
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(s.size() % Stack::page_size(), 0u);
  EXPECT_GE(s.size(), 10000u);
  EXPECT_EQ(static_cast<char*>(s.top()) - static_cast<char*>(s.bottom()),
            static_cast<std::ptrdiff_t>(s.size()));
  std::memset(s.bottom(), 0xab, s.size());  // every usable byte is writable
}

TEST(StackTest, BadSizesAreRejected) {
  EXPECT_THROW(Stack::allocate(0), std::invalid_argument);
  EXPECT_THROW(Stack::allocate(kMaxStackSize + 1), std::invalid_argument);
  EXPECT_THROW(StackPool(0), std::invalid_argument);
}

TEST(StackTest, GuardPageIsBelowTheUsableRange) {
  Stack s = Stack::allocate(16 * 1024);
  char* bottom = static_cast<char*>(s.bottom());
  EXPECT_TRUE(s.overflow_hit(bottom - 1));
  EXPECT_TRUE(s.overflow_hit(bottom - Stack::guard_size()));
  EXPECT_FALSE(s.overflow_hit(bottom));
  EXPECT_FALSE(s.overflow_hit(s.top()));
}

TEST(StackDeathTest, WritingTheGuardPageFaults) {
  detail::set_death_test_style();
  Stack s = Stack::allocate(16 * 1024);
  volatile char* guard = static_cast<char*>(s.bottom()) - 8;
  EXPECT_DEATH(
      {
        detail::end_process_on_unhandled_exception();
        *guard = 1;
      },
      "");
}

TEST(StackTest, MoveTransfersOwnership) {
  Stack a = Stack::allocate(8192);
  void* top = a.top();
  Stack b = std::move(a);
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(b.top(), top);
}

TEST(StackPoolTest, StacksAreReusedNotRemapped) {
  StackPool pool(32 * 1024, 4);
  const std::uint64_t before = stack_map_count();
  int ran = 0;
  for (int i = 0; i < 1000; ++i) {
    Coroutine co([&] { ++ran; }, {.pool = &pool});
    co.resume();
  }
  EXPECT_EQ(ran, 1000);
  EXPECT_EQ(stack_map_count() - before, 1u) << "each coroutine should reuse the pooled stack";
  EXPECT_EQ(pool.cached(), 1u);
}

TEST(StackPoolTest, CacheIsBoundedAndMapsWhenEmpty) {
  StackPool pool(16 * 1024, 2);
  const std::uint64_t before = stack_map_count();
  Stack a = pool.acquire(), b = pool.acquire(), c = pool.acquire();
  EXPECT_EQ(stack_map_count() - before, 3u);
  pool.release(std::move(a));
  pool.release(std::move(b));
  pool.release(std::move(c));  // over the bound: unmapped
  EXPECT_EQ(pool.cached(), 2u);
  Stack d = pool.acquire();
  EXPECT_EQ(stack_map_count() - before, 3u);
  EXPECT_EQ(pool.cached(), 1u);
}

TEST(StackPoolTest, StacksOfAnotherSizeAreNotCached) {
  StackPool pool(16 * 1024, 8);
  pool.release(Stack::allocate(128 * 1024));
  EXPECT_EQ(pool.cached(), 0u);
}

}  // namespace
}  // namespace spindle
