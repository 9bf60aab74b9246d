#include "spindle/sched/run_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace spindle::detail {
namespace {

struct Numbered : Task {
  int value = 0;
};

TEST(RunQueueTest, FifoForTheOwner) {
  RunQueue q;
  std::vector<Numbered> tasks(10);
  for (int i = 0; i < 10; ++i) {
    tasks[i].value = i;
    ASSERT_TRUE(q.push(&tasks[i]));
  }
  for (int i = 0; i < 10; ++i) EXPECT_EQ(static_cast<Numbered*>(q.pop())->value, i);
  EXPECT_EQ(q.pop(), nullptr);
}

TEST(RunQueueTest, FullRingRefusesThenOverflowsHalf) {
  RunQueue q;
  std::vector<Numbered> tasks(RunQueue::kCapacity + 1);
  for (std::uint32_t i = 0; i < RunQueue::kCapacity; ++i) ASSERT_TRUE(q.push(&tasks[i]));
  EXPECT_FALSE(q.push(&tasks.back()));
  TaskList out;
  ASSERT_TRUE(q.take_half_for_overflow(&tasks.back(), out));
  EXPECT_EQ(out.size(), RunQueue::kCapacity / 2 + 1);
  EXPECT_EQ(q.size(), RunQueue::kCapacity / 2);
  EXPECT_EQ(out.pop_front(), &tasks[0]);  // the oldest half leaves
}

TEST(RunQueueTest, StealTakesHalfRoundedUp) {
  RunQueue victim, thief;
  std::vector<Numbered> tasks(7);
  for (auto& t : tasks) victim.push(&t);
  Task* run_now = victim.steal_into(thief);
  ASSERT_NE(run_now, nullptr);
  EXPECT_EQ(victim.size(), 3u);
  EXPECT_EQ(thief.size(), 3u);  // 4 stolen: one to run now, three queued
  EXPECT_EQ(thief.pop(), &tasks[0]);
}

TEST(RunQueueTest, ConcurrentOwnerAndThievesTakeEveryTaskExactlyOnce) {
  // The owner pushes and pops while two thieves steal into their own queues and
  // drain them. Every task must be taken exactly once.
  constexpr int kTasks = 200'000;
  std::vector<Numbered> tasks(kTasks);
  std::vector<std::atomic<int>> taken(kTasks);
  for (int i = 0; i < kTasks; ++i) tasks[i].value = i;
  RunQueue owner;
  std::atomic<bool> done{false};
  std::atomic<int> total{0};
  auto take = [&](Task* t) {
    taken[static_cast<Numbered*>(t)->value].fetch_add(1);
    total.fetch_add(1);
  };
  auto thief_main = [&] {
    RunQueue mine;
    while (!done.load()) {
      if (Task* t = owner.steal_into(mine)) {
        take(t);
        while (Task* u = mine.pop()) take(u);
      }
    }
  };
  std::thread t1(thief_main), t2(thief_main);
  int next = 0;
  while (next < kTasks) {
    if (!owner.push(&tasks[next])) {
      if (Task* t = owner.pop()) take(t);
      continue;
    }
    ++next;
    if (next % 3 == 0) {
      if (Task* t = owner.pop()) take(t);
    }
  }
  while (Task* t = owner.pop()) take(t);
  while (total.load() < kTasks) std::this_thread::yield();
  done = true;
  t1.join();
  t2.join();
  int wrong = 0;
  for (auto& c : taken) wrong += c.load() != 1;
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(total.load(), kTasks);
}

}  // namespace
}  // namespace spindle::detail

namespace spindle::detail {
namespace {

TEST(RunQueueTest, PushFrontIsTakenFirst) {
  RunQueue q;
  Numbered a, b, c;
  q.push(&a);
  q.push(&b);
  ASSERT_TRUE(q.push_front(&c));
  EXPECT_EQ(q.pop(), &c);
  EXPECT_EQ(q.pop(), &a);
  EXPECT_EQ(q.pop(), &b);
  EXPECT_EQ(q.pop(), nullptr);
  ASSERT_TRUE(q.push_front(&a));  // into an empty ring, across the index wrap
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.pop(), &a);
}

TEST(RunQueueTest, FrontPushesWithConcurrentThievesLoseAndDuplicateNothing) {
  // The owner mixes front pushes, back pushes and pops, which bring the head index
  // back to values thieves have seen (the ABA case the version tag prevents).
  constexpr int kTasks = 200'000;
  std::vector<Numbered> tasks(kTasks);
  std::vector<std::atomic<int>> taken(kTasks);
  for (int i = 0; i < kTasks; ++i) tasks[i].value = i;
  RunQueue owner;
  std::atomic<bool> done{false};
  std::atomic<int> total{0};
  auto take = [&](Task* t) {
    taken[static_cast<Numbered*>(t)->value].fetch_add(1);
    total.fetch_add(1);
  };
  auto thief_main = [&] {
    RunQueue mine;
    while (!done.load()) {
      if (Task* t = owner.steal_into(mine)) {
        take(t);
        while (Task* u = mine.pop()) take(u);
      }
    }
  };
  std::thread t1(thief_main), t2(thief_main);
  for (int next = 0; next < kTasks;) {
    const bool pushed = (next % 2 == 0) ? owner.push_front(&tasks[next]) : owner.push(&tasks[next]);
    if (!pushed) {
      if (Task* t = owner.pop()) take(t);
      continue;
    }
    ++next;
    if (next % 2 == 0) {
      if (Task* t = owner.pop()) take(t);
    }
  }
  while (Task* t = owner.pop()) take(t);
  while (total.load() < kTasks) std::this_thread::yield();
  done = true;
  t1.join();
  t2.join();
  int wrong = 0;
  for (auto& c : taken) wrong += c.load() != 1;
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace spindle::detail
