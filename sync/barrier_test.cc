// Barrier: phases with 64 participants (fibers and threads), one leader per phase,
// and no participant running ahead into the next phase.
#include "spindle/sync/barrier.h"

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


TEST(BarrierTest, SingleParticipantNeverWaits) {
  Barrier b(1);
  EXPECT_TRUE(b.arrive_and_wait());
  EXPECT_TRUE(b.arrive_and_wait());
  EXPECT_EQ(b.phase(), 2u);
}

TEST(BarrierTest, ManualExecutorPhases) {
  ManualExecutor ex;
  Barrier b(3);
  std::vector<int> log;
  std::vector<JoinHandle<void>> hs;
  for (int f = 0; f < 3; ++f) {
    hs.push_back(spawn(ex, [&, f] {
      for (int p = 0; p < 4; ++p) {
        log.push_back(p);
        b.arrive_and_wait();
      }
    }));
  }
  ex.run_all();
  for (auto& h : hs) h.join();
  ASSERT_EQ(log.size(), 12u);
  for (std::size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i], static_cast<int>(i / 3));
}

void phases(std::size_t workers) {
  const int kPhases = 300 / testing_sizes::kScale;
  constexpr int kFibers = 60, kThreads = 4, kParties = kFibers + kThreads;
  Scheduler sched(testing_sizes::unpinned(workers, "barrier"));
  Barrier b(kParties);
  std::atomic<int> arrived[2] = {0, 0};
  std::atomic<int> leaders{0}, errors{0};
  auto body = [&] {
    for (int p = 0; p < kPhases; ++p) {
      arrived[p % 2].fetch_add(1);
      if (b.arrive_and_wait()) ++leaders;
      // Everyone of this phase arrived; nobody of the next can have passed the
      // barrier yet, so the count for this phase is exact. Reset it for phase p+2
      // only after the next barrier (by the leader of phase p+1).
      if (arrived[p % 2].load() != kParties) ++errors;
      if (b.arrive_and_wait()) arrived[p % 2].store(0);
    }
  };
  std::vector<JoinHandle<void>> fibers;
  for (int i = 0; i < kFibers; ++i) fibers.push_back(spawn(sched, body));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(body);
  for (auto& h : fibers) h.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(leaders.load(), kPhases);
  EXPECT_EQ(b.phase(), 2u * kPhases);
}

TEST(BarrierTest, SixtyFourPartiesOneWorker) { phases(1); }
TEST(BarrierTest, SixtyFourPartiesTwoWorkers) { phases(2); }

}  // namespace
}  // namespace spindle
