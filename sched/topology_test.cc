#include "spindle/sched/topology.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "spindle/sched/os_thread.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

TEST(TopologyTest, DetectFindsTheOnlineCpus) {
  Topology t = Topology::detect();
  ASSERT_FALSE(t.cores().empty());
  // Every PU detected is one this process may use, and each appears once.
  const std::vector<int> allowed = detail::process_affinity();
  std::set<int> pus;
  for (const Core& c : t.cores()) {
    for (int pu : c.pus) {
      EXPECT_TRUE(std::find(allowed.begin(), allowed.end(), pu) != allowed.end()) << "PU " << pu;
      EXPECT_TRUE(pus.insert(pu).second) << "PU " << pu << " twice";
    }
  }
  EXPECT_GE(t.pu_count(), 1);
  EXPECT_LE(t.pu_count(), static_cast<int>(allowed.size()));
}

TEST(TopologyTest, SyntheticTwoPackages) {
  Topology t = Topology::synthetic("package:2 l3:1 core:4 pu:2");
  ASSERT_EQ(t.cores().size(), 8u);
  EXPECT_EQ(t.pu_count(), 16);
  EXPECT_EQ(t.cores()[0].package, 0);
  EXPECT_EQ(t.cores()[7].package, 1);
  EXPECT_EQ(t.distance(0, 0), 0);
  EXPECT_EQ(t.distance(0, 3), 1);  // same L3
  EXPECT_EQ(t.distance(0, 4), 3);  // other package
}

TEST(TopologyTest, BadSyntheticDescriptionIsRejected) {
  EXPECT_THROW(Topology::synthetic("this is not hwloc"), std::invalid_argument);
}

TEST(TopologyTest, StealingVisitsTheSamePackageFirst) {
  Scheduler sched({.workers = 8,
                   .pinning = Pinning::kNone,
                   .name = "synthetic",
                   .topology = Topology::synthetic("package:2 l3:1 core:4 pu:1")});
  for (std::size_t w = 0; w < 8; ++w) {
    const auto& groups = sched.victim_groups(w);
    ASSERT_EQ(groups.size(), 2u) << "worker " << w;
    const int package = static_cast<int>(w) / 4;
    for (int v : groups[0]) EXPECT_EQ(v / 4, package) << "near group of worker " << w;
    for (int v : groups[1]) EXPECT_NE(v / 4, package) << "far group of worker " << w;
    EXPECT_EQ(groups[0].size(), 3u);
    EXPECT_EQ(groups[1].size(), 4u);
  }
}

TEST(TopologyTest, WorkersArePinnedAsThePolicySays) {
  Topology t = Topology::detect();
  {
    Scheduler sched({.pinning = Pinning::kCores, .name = "pin-cores"});
    ASSERT_EQ(sched.worker_count(), t.cores().size());
    for (std::size_t i = 0; i < sched.worker_count(); ++i) {
      std::vector<int> expected = t.cores()[i].pus;
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(sched.worker_affinity(i), expected) << "worker " << i;
    }
  }
  {
    Scheduler sched({.pinning = Pinning::kHyperthreads, .name = "pin-pus"});
    ASSERT_EQ(sched.worker_count(), static_cast<std::size_t>(t.pu_count()));
    std::set<int> seen;
    for (std::size_t i = 0; i < sched.worker_count(); ++i) {
      auto cpus = sched.worker_affinity(i);
      ASSERT_EQ(cpus.size(), 1u) << "worker " << i;
      seen.insert(cpus[0]);
    }
    EXPECT_EQ(seen.size(), sched.worker_count()) << "each worker on its own PU";
  }
  {
    const std::vector<int> allowed = detail::process_affinity();
    Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "unpinned"});
    for (std::size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(sched.worker_affinity(i), allowed) << "worker " << i;
    }
  }
}

// Scheduler's anticipate_bursts moves a worker off the CPU its bursts come from.
TEST(OsThreadTest, MoveOffCpuMovesTheCallerAndLeavesItsAffinityAsItWas) {
#ifdef _WIN32
  GTEST_SKIP() << "move_off_cpu is not done on Windows";
#else
  if (detail::process_affinity().size() < 2) GTEST_SKIP() << "this process may run on one CPU only";
  std::thread t([] {
    const std::vector<int> before = detail::process_affinity();  // the calling thread's
    EXPECT_FALSE(detail::move_off_cpu(-1));
    // Retried: the OS may move the thread between the two calls (then it is not on
    // `cpu` and nothing is done).
    bool moved = false;
    for (int i = 0; i < 100 && !moved; ++i) moved = detail::move_off_cpu(detail::current_cpu());
    EXPECT_TRUE(moved);
    EXPECT_EQ(detail::process_affinity(), before);
  });
  t.join();
#endif
}

}  // namespace
}  // namespace spindle
