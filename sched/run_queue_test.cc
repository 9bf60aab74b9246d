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

// An owner queue with two thieves stealing from it into their own queues and
// draining them; counts how often each task is taken.
class StealHarness {
 public:
  explicit StealHarness(int n) : tasks_(static_cast<std::size_t>(n)), taken_(static_cast<std::size_t>(n)) {
    for (int i = 0; i < n; ++i) tasks_[static_cast<std::size_t>(i)].value = i;
    for (auto& t : thieves_) t = std::thread([this] { thief_main(); });
  }
  RunQueue& owner() { return owner_; }
  Task* task(int i) { return &tasks_[static_cast<std::size_t>(i)]; }
  void take(Task* t) {
    taken_[static_cast<std::size_t>(static_cast<Numbered*>(t)->value)].fetch_add(1);
    total_.fetch_add(1);
  }
  // Owner done pushing: drains the rest, waits for the thieves, and returns how
  // many tasks were not taken exactly once.
  int finish() {
    while (Task* t = owner_.pop()) take(t);
    while (total_.load() < static_cast<int>(tasks_.size())) std::this_thread::yield();
    done_ = true;
    for (auto& t : thieves_) t.join();
    int wrong = 0;
    for (auto& c : taken_) wrong += c.load() != 1;
    return wrong;
  }

 private:
  void thief_main() {
    RunQueue mine;
    while (!done_.load()) {
      if (Task* t = owner_.steal_into(mine)) {
        take(t);
        while (Task* u = mine.pop()) take(u);
      }
    }
  }

  std::vector<Numbered> tasks_;
  std::vector<std::atomic<int>> taken_;
  RunQueue owner_;
  std::atomic<bool> done_{false};
  std::atomic<int> total_{0};
  std::thread thieves_[2];
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
  StealHarness h(kTasks);
  for (int next = 0; next < kTasks;) {
    if (!h.owner().push(h.task(next))) {
      if (Task* t = h.owner().pop()) h.take(t);
      continue;
    }
    ++next;
    if (next % 3 == 0) {
      if (Task* t = h.owner().pop()) h.take(t);
    }
  }
  EXPECT_EQ(h.finish(), 0);
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
  StealHarness h(kTasks);
  for (int next = 0; next < kTasks;) {
    const bool pushed = (next % 2 == 0) ? h.owner().push_front(h.task(next)) : h.owner().push(h.task(next));
    if (!pushed) {
      if (Task* t = h.owner().pop()) h.take(t);
      continue;
    }
    ++next;
    if (next % 2 == 0) {
      if (Task* t = h.owner().pop()) h.take(t);
    }
  }
  EXPECT_EQ(h.finish(), 0);
}

}  // namespace
}  // namespace spindle::detail
