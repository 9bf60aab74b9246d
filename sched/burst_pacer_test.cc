// BurstPacer (sched/burst_pacer.h) on synthetic times: when it predicts a burst,
// when it refuses to, and what a miss does.
#include "spindle/sched/burst_pacer.h"

#include <gtest/gtest.h>

#include <chrono>

namespace spindle::detail {
namespace {

using namespace std::chrono_literals;
using TP = Clock::time_point;

const TP t0 = TP(1s);  // any origin; ran_out values at or before a burst's predecessor count as "none"
const TP kNone{};

// Bursts every `every` from t0, n of them; returns the time of the last.
TP feed(BurstPacer& p, Clock::duration every, int n, int cpu = 3) {
  TP t = t0;
  for (int i = 0; i < n; ++i) {
    t = t0 + i * every;
    p.on_burst(t, cpu, kNone);
  }
  return t;
}

TEST(BurstPacer, NoWindowUntilThreeIntervalsOnPace) {
  BurstPacer p;
  TP last = feed(p, 1ms, 3);  // two intervals
  EXPECT_FALSE(p.window(last, kNone).has_value());
  last += 1ms;
  p.on_burst(last, 3, kNone);  // the third
  const auto w = p.window(last + 100us, kNone);
  ASSERT_TRUE(w.has_value());
  const TP due = last + 1ms;
  EXPECT_LT(w->wake, due);
  EXPECT_GT(w->until, due);
  EXPECT_EQ(w->burst_cpu, 3);
  // The window is narrow against the pace: it opens well after the last burst.
  EXPECT_GT(w->wake, last + 500us);
  EXPECT_LT(w->until, due + 300us);
}

TEST(BurstPacer, IrregularBurstsGiveNoWindow) {
  BurstPacer p;
  TP t = t0;
  const std::chrono::microseconds gaps[] = {1000us, 3000us, 1200us, 5000us, 700us, 2500us, 1000us, 4000us};
  for (auto g : gaps) {
    t += g;
    p.on_burst(t, 0, kNone);
    EXPECT_FALSE(p.window(t, kNone).has_value()) << "after a gap of " << g.count() << " us";
  }
}

TEST(BurstPacer, PacesOutsideTheRangeGiveNoWindow) {
  BurstPacer too_fast, too_slow;
  const TP a = feed(too_fast, 20us, 10);
  EXPECT_FALSE(too_fast.window(a, kNone).has_value());
  const TP b = feed(too_slow, 200ms, 10);
  EXPECT_FALSE(too_slow.window(b, kNone).has_value());
}

TEST(BurstPacer, AFastPaceKeepsItsWindowWithinAQuarterOfThePaceOnEachSide) {
  BurstPacer p;
  const TP last = feed(p, 100us, 8);  // below the sides' floors (30 / 60 us) times four
  const auto w = p.window(last, kNone);
  ASSERT_TRUE(w.has_value());
  const TP due = last + 100us;
  EXPECT_EQ(w->until, due + 25us);
  EXPECT_LT(w->wake, due);
}

TEST(BurstPacer, AnOverdueBurstHasNoWindow) {
  BurstPacer p;
  const TP last = feed(p, 1ms, 6);
  ASSERT_TRUE(p.window(last, kNone).has_value());
  EXPECT_FALSE(p.window(last + 5ms, kNone).has_value());  // the loop stopped: nothing to wait for
}

TEST(BurstPacer, AMissWithdrawsTheWindowUntilTheNextBurstOnPace) {
  BurstPacer p;
  TP last = feed(p, 1ms, 6);
  ASSERT_TRUE(p.window(last, kNone).has_value());
  p.on_miss();
  EXPECT_FALSE(p.window(last, kNone).has_value());
  last += 1ms;
  p.on_burst(last, 0, kNone);  // back on pace
  EXPECT_TRUE(p.window(last, kNone).has_value());
}

TEST(BurstPacer, TheGapModelPredictsALoopThatSleepsAFixedTimeAfterFramesOfVaryingLength) {
  // Frames of 100 us and 600 us alternate, each followed by 2 ms of sleep: the
  // intervals (2.1 / 2.6 ms) are not steady, the gap from the pool running out to
  // the next burst is.
  BurstPacer p;
  TP burst = t0;
  TP ran_out = kNone;
  for (int i = 0; i < 8; ++i) {
    p.on_burst(burst, 1, ran_out);
    ran_out = burst + (i % 2 == 0 ? 100us : 600us);
    burst = ran_out + 2ms;
  }
  // `burst` is the next one due; the pool ran out at `ran_out`.
  const auto w = p.window(ran_out, ran_out);
  ASSERT_TRUE(w.has_value());
  EXPECT_LT(w->wake, burst);
  EXPECT_GT(w->until, burst);
  // Without the ran-out time only the interval model is left, and it is not steady.
  EXPECT_FALSE(p.window(ran_out, kNone).has_value());
}

TEST(BurstPacer, LateWakesMoveTheWakeEarlier) {
  BurstPacer p;
  const TP last = feed(p, 1ms, 6);
  const BurstPacer::Window before = *p.window(last, kNone);
  for (int i = 0; i < 20; ++i) p.on_wake(before.wake, before.wake + 150us);  // every timed wake 150 us late
  const BurstPacer::Window after = *p.window(last, kNone);
  EXPECT_LT(after.wake, before.wake - 80us);
  EXPECT_EQ(after.until, before.until);  // the window still closes where it did
}

}  // namespace
}  // namespace spindle::detail
