// select: one case proceeds, timeouts and defaults, close, fairness, and values
// never lost or duplicated when several selects race over the same channels.
#include "spindle/sync/select.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;


TEST(SelectTest, ReadyCaseRuns) {
  Channel<int> a(1), b(1);
  b.send(5);
  int got = 0;
  const std::size_t i = select(recv_case(a, [&](std::optional<int>) { got = -1; }),
                               recv_case(b, [&](std::optional<int> v) { got = *v; }));
  EXPECT_EQ(i, 1u);
  EXPECT_EQ(got, 5);
  EXPECT_EQ(select(send_case(a, 9, [] {}), default_case([] {})), 0u);
  EXPECT_EQ(a.recv(), 9);
}

TEST(SelectTest, DefaultAndTimeout) {
  Channel<int> a;
  bool ran = false;
  EXPECT_EQ(select(recv_case(a, [](std::optional<int>) {}), default_case([&] { ran = true; })), 1u);
  EXPECT_TRUE(ran);
  const auto start = Clock::now();
  EXPECT_EQ(select(recv_case(a, [](std::optional<int>) {}), send_case(a, 1, [] {}), timeout_case(5ms, [] {})), 2u);
  EXPECT_GE(Clock::now() - start, 5ms);
  EXPECT_EQ(select(timeout_case(1ms, [] {})), 0u);
}

TEST(SelectTest, BlockedSelectIsWokenByEitherChannel) {
  Scheduler sched(testing_sizes::unpinned(2, "select"));
  Channel<int> a, b;
  auto h = spawn(sched, [&] {
    int got = 0;
    const std::size_t i = select(recv_case(a, [&](std::optional<int> v) { got = *v; }),
                                 recv_case(b, [&](std::optional<int> v) { got = *v * 10; }));
    return static_cast<int>(i) * 1000 + got;
  });
  std::this_thread::sleep_for(5ms);
  b.send(4);  // blocks this thread until the select takes it
  EXPECT_EQ(h.join(), 1040);
  // A select on a thread, completed by a fiber's send.
  auto s = spawn(sched, [&] { a.send(3); });
  int got = 0;
  EXPECT_EQ(select(recv_case(b, [&](std::optional<int>) {}), recv_case(a, [&](std::optional<int> v) { got = *v; })),
            1u);
  EXPECT_EQ(got, 3);
  s.join();
}

TEST(SelectTest, ClosedChannels) {
  Channel<int> a;
  a.close();
  bool closed_seen = false;
  EXPECT_EQ(select(recv_case(a, [&](std::optional<int> v) { closed_seen = !v; })), 0u);
  EXPECT_TRUE(closed_seen);
  EXPECT_THROW(select(send_case(a, 1, [] {})), ChannelClosed);
  // Closing wakes a blocked select.
  ManualExecutor ex;
  Channel<int> b;
  auto h = spawn(ex, [&] {
    std::optional<int> got = 1;
    select(recv_case(b, [&](std::optional<int> v) { got = v; }));
    return got.has_value();
  });
  ex.run_all();
  b.close();
  ex.run_all();
  EXPECT_FALSE(h.join());
}

TEST(SelectTest, FairAmongReadyCases) {
  Channel<int> chans[3] = {Channel<int>(1), Channel<int>(1), Channel<int>(1)};
  int wins[3] = {};
  const int kRounds = 30'000;
  for (int r = 0; r < kRounds; ++r) {
    for (auto& c : chans) (void)c.try_send(r);  // all three ready
    const std::size_t i = select(recv_case(chans[0], [](std::optional<int>) {}),
                                 recv_case(chans[1], [](std::optional<int>) {}),
                                 recv_case(chans[2], [](std::optional<int>) {}));
    ++wins[i];
  }
  for (int w : wins) EXPECT_GT(w, kRounds / 4) << wins[0] << " " << wins[1] << " " << wins[2];
}

TEST(SelectTest, RacingSelectsNeitherLoseNorDuplicateValues) {
  // Producers send on two unbuffered channels; selecting consumers (fibers and a
  // thread), each also offering a send on a third channel drained by a plain
  // receiver, take values. Lost notifies must hand values back intact.
  const int kItems = 100'000 / testing_sizes::kScale;
  Scheduler sched(testing_sizes::unpinned(2, "select-race"));
  Channel<int> a, b, side;
  std::vector<std::atomic<unsigned char>> seen(2 * kItems);
  std::atomic<int> taken{0};
  std::atomic<bool> done{false};
  auto consumer = [&] {
    while (!done.load()) {
      select(recv_case(a, [&](std::optional<int> v) { if (v) { ++seen[*v]; ++taken; } }),
             recv_case(b, [&](std::optional<int> v) { if (v) { ++seen[*v]; ++taken; } }),
             send_case(side, -1, [] {}), timeout_case(1ms, [] {}));
    }
  };
  std::vector<JoinHandle<void>> fibers;
  for (int i = 0; i < 3; ++i) fibers.push_back(spawn(sched, consumer));
  std::thread thread_consumer(consumer);
  auto side_drain = spawn(sched, [&] {
    while (side.recv()) {
    }
  });
  auto pa = spawn(sched, [&] { for (int i = 0; i < kItems; ++i) a.send(i); });
  std::thread pb([&] { for (int i = 0; i < kItems; ++i) b.send(kItems + i); });
  pa.join();
  pb.join();
  while (taken.load() < 2 * kItems) std::this_thread::yield();
  done = true;
  for (auto& h : fibers) h.join();
  thread_consumer.join();
  side.close();
  side_drain.join();
  int bad = 0;
  for (auto& s : seen) bad += s.load() != 1;
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace spindle
