// Channel<T>: buffered and unbuffered semantics, close, timeouts, move-only values,
// and MPMC traffic with close() in the middle: every item sent is received once.
#include "spindle/sync/channel.h"

#include <gtest/gtest.h>

#include "spindle/coro/death_test.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/sync/lifetime_rounds.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;


TEST(ChannelTest, BufferedFifoAndTryOps) {
  Channel<int> ch(2);
  EXPECT_EQ(ch.try_send(1), ChannelStatus::kOk);
  ch.send(2);
  int three = 3;
  EXPECT_EQ(ch.try_send(std::move(three)), ChannelStatus::kWouldBlock);
  EXPECT_EQ(three, 3);  // given back
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch.recv(), 1);
  EXPECT_EQ(ch.try_recv(), 2);
  EXPECT_EQ(ch.try_recv(), std::nullopt);
  EXPECT_EQ(ch.recv_for(1ms), std::nullopt);
}

TEST(ChannelTest, UnbufferedIsARendezvous) {
  Channel<int> ch;
  EXPECT_EQ(ch.try_send(1), ChannelStatus::kWouldBlock);  // no receiver waiting
  EXPECT_EQ(ch.send_for(1, 1ms), ChannelStatus::kTimedOut);
  ManualExecutor ex;
  std::vector<int> got;
  auto r = spawn(ex, [&] {
    while (auto v = ch.recv()) got.push_back(*v);
  });
  ex.run_all();  // the receiver parks
  EXPECT_EQ(ch.try_send(7), ChannelStatus::kOk);  // handed straight to it
  ex.run_all();
  auto s = spawn(ex, [&] { ch.send(8); });
  ex.run_all();
  ch.close();
  ex.run_all();
  r.join();
  s.join();
  EXPECT_EQ(got, (std::vector<int>{7, 8}));
}

TEST(ChannelTest, CloseDrainsThenReportsClosed) {
  Channel<int> ch(4);
  ch.send(1);
  ch.send(2);
  EXPECT_TRUE(ch.close());
  EXPECT_FALSE(ch.close());
  EXPECT_THROW(ch.send(3), ChannelClosed);
  int v = 4;
  EXPECT_EQ(ch.try_send(std::move(v)), ChannelStatus::kClosed);
  EXPECT_EQ(ch.recv(), 1);
  EXPECT_EQ(ch.recv(), 2);
  EXPECT_EQ(ch.recv(), std::nullopt);
  EXPECT_EQ(ch.try_recv(), std::nullopt);
  EXPECT_TRUE(ch.closed());
}

TEST(ChannelTest, CloseWakesBlockedSendersAndReceivers) {
  Scheduler sched(testing_sizes::unpinned(2, "chan-close"));
  Channel<int> full(1), empty(1);
  full.send(0);
  auto sender = spawn(sched, [&] {
    try {
      full.send(1);
      return false;
    } catch (const ChannelClosed&) {
      return true;
    }
  });
  auto receiver = spawn(sched, [&] { return empty.recv().has_value(); });
  std::thread thread_receiver([&] { EXPECT_EQ(empty.recv(), std::nullopt); });
  std::this_thread::sleep_for(10ms);
  full.close();
  empty.close();
  EXPECT_TRUE(sender.join());
  EXPECT_FALSE(receiver.join());
  thread_receiver.join();
  EXPECT_EQ(full.recv(), 0);  // what was buffered before close
}

TEST(ChannelTest, MoveOnlyValues) {
  Scheduler sched(testing_sizes::unpinned(2, "chan-move"));
  Channel<std::unique_ptr<int>> ch;
  auto r = spawn(sched, [&] {
    int sum = 0;
    while (auto p = ch.recv()) sum += **p;
    return sum;
  });
  for (int i = 1; i <= 100; ++i) ch.send(std::make_unique<int>(i));
  auto p = std::make_unique<int>(5);
  const ChannelStatus st = ch.send_for(std::move(p), 1ms);
  EXPECT_EQ(st == ChannelStatus::kOk, p == nullptr);  // given back unless sent
  ch.close();
  const int expected = 5050 + (p == nullptr ? 5 : 0);
  EXPECT_EQ(r.join(), expected);
}

TEST(ChannelTest, TimedOpsRacingTheOtherSideLoseNothing) {
  // Receivers with tiny timeouts against a steady sender: every value sent is
  // either received or still buffered, never lost to a timed-out receiver.
  const int kItems = 20'000 / testing_sizes::kScale;
  Scheduler sched(testing_sizes::unpinned(2, "chan-timed"));
  Channel<int> ch;
  std::atomic<long long> received{0};
  auto r = spawn(sched, [&] {
    for (;;) {
      auto v = ch.recv_for(std::chrono::microseconds(3));
      if (v) {
        if (*v < 0) return;
        received += *v;
      }
    }
  });
  long long sent = 0;
  for (int i = 1; i <= kItems; ++i) {
    int v = i;
    if (ch.send_for(std::move(v), std::chrono::microseconds(i % 5)) == ChannelStatus::kOk) sent += i;
  }
  ch.send(-1);
  r.join();
  EXPECT_EQ(received.load(), sent);
}

// 4 producers x 4 consumers (3 fibers + 1 thread each side) move kItems through a
// small buffer; close() comes while traffic flows. Every item a producer managed
// to send is received exactly once, and nothing else is.
void mpmc(std::size_t workers, std::size_t capacity) {
  const int kItems = 1'000'000 / testing_sizes::kScale;
  constexpr int kProducers = 4, kConsumers = 4;
  Scheduler sched(testing_sizes::unpinned(workers, "chan-mpmc"));
  Channel<int> ch(capacity);
  std::vector<std::atomic<unsigned char>> seen(kItems);
  std::vector<std::atomic<unsigned char>> sent(kItems);
  std::atomic<int> received{0};
  auto producer = [&](int p) {
    for (int i = p; i < kItems; i += kProducers) {
      try {
        ch.send(i);
      } catch (const ChannelClosed&) {
        return;
      }
      sent[i].store(1, std::memory_order_relaxed);
    }
  };
  auto consumer = [&] {
    while (auto v = ch.recv()) {
      seen[*v].fetch_add(1, std::memory_order_relaxed);
      if (received.fetch_add(1, std::memory_order_relaxed) + 1 == kItems * 3 / 4) ch.close();
    }
  };
  std::vector<JoinHandle<void>> fibers;
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers - 1; ++p) fibers.push_back(spawn(sched, producer, p));
  threads.emplace_back(producer, kProducers - 1);
  for (int c = 0; c < kConsumers - 1; ++c) fibers.push_back(spawn(sched, consumer));
  threads.emplace_back(consumer);
  for (auto& h : fibers) h.join();
  for (auto& t : threads) t.join();
  int sent_count = 0, dup = 0, phantom = 0;
  for (int i = 0; i < kItems; ++i) {
    const int s = sent[i].load(), r = seen[i].load();
    sent_count += s;
    if (r > 1) ++dup;
    if (r != s) ++phantom;
  }
  EXPECT_EQ(dup, 0);
  EXPECT_EQ(phantom, 0);  // received iff sent
  EXPECT_EQ(received.load(), sent_count);
  EXPECT_GE(sent_count, kItems * 3 / 4);
  EXPECT_LT(sent_count, kItems);  // close() really cut traffic short
}

TEST(ChannelTest, MpmcWithCloseBufferedTwoWorkers) { mpmc(2, 64); }
TEST(ChannelTest, MpmcWithCloseUnbufferedOneWorker) { mpmc(1, 0); }

TEST(ChannelDeathTest, DestroyedWithABlockedReceiverDies) {
  detail::set_death_test_style();  // "fast" under qemu (coro/death_test.h)
  EXPECT_DEATH(
      {
        ManualExecutor ex;
        auto* ch = new Channel<int>;
        spawn(ex, [ch] { (void)ch->recv(); }).detach();
        ex.run_all();
        delete ch;
      },
      "Channel 0x.+: destroyed while fibers or threads are blocked on it");
}

}  // namespace
}  // namespace spindle

namespace spindle {
namespace {

TEST(ChannelLifetimeTest, MayBeDestroyedAsSoonAsRecvReturns) {
  // Woken by a send (untimed and timed receives: their nodes are notified at
  // different points) and by close().
  struct Unbuffered : Channel<int> {
    Unbuffered() : Channel<int>(0) {}
  };
  Scheduler sched(testing_sizes::unpinned(2, "channel-lifetime"));
  int round = 0, values = 0;
  const int ran = testing_lifetime::run_rounds<Unbuffered>(
      sched, 15'000 / testing_sizes::kScale,
      [&round](Unbuffered* ch) {
        if (round % 3 == 2) {
          ch->close();
        } else {
          ch->send(7);
        }
      },
      [&round, &values](std::unique_ptr<Unbuffered> ch) {
        const int how = round % 3;
        const std::optional<int> v = how == 1 ? ch->recv_for(std::chrono::seconds(30)) : ch->recv();
        ch.reset();  // a send() or close() still inside would now touch freed memory (ASan)
        values += v.has_value();
        ++round;  // read by the waker only after the next object is published
      });
  int sends = 0;
  for (int r = 0; r < round; ++r) sends += r % 3 != 2;
  EXPECT_EQ(round, ran);  // every round that ran was waited out
  EXPECT_GT(ran, 0);
  EXPECT_EQ(values, sends);
}

}  // namespace
}  // namespace spindle
