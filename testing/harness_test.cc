// The harness must find real concurrency bugs and hand back exact replays: each
// planted bug in testing/bugs/ is found within a bounded number of seeds, and
// replaying the seed reproduces the same failure step for step.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sync/mutex.h"
#include "spindle/testing/bugs/forgetful_mutex.h"
#include "spindle/testing/bugs/lossy_channel.h"
#include "spindle/testing/bugs/racy_wait_group.h"
#include "spindle/testing/simulation.h"

namespace spindle::testing {
namespace {

using namespace std::chrono_literals;

void forgetful_mutex_body() {
  bugs::ForgetfulMutex m;
  int counter = 0;
  std::vector<JoinHandle<void>> hs;
  for (int f = 0; f < 3; ++f) {
    hs.push_back(spawn([&] {
      for (int i = 0; i < 3; ++i) {
        m.lock();
        fault_point();
        ++counter;
        m.unlock();
      }
    }));
  }
  for (auto& h : hs) h.join();
  if (counter != 9) throw std::runtime_error("lost increments");
}

void racy_wait_group_body() {
  bugs::RacyWaitGroup wg;
  wg.add(3);
  std::vector<JoinHandle<void>> hs;
  for (int f = 0; f < 3; ++f) hs.push_back(spawn([&] {
    fault_point();
    wg.done();
  }));
  wg.wait();
  for (auto& h : hs) h.join();
}

void lossy_channel_body() {
  bugs::LossyChannel ch(2);
  auto producer = spawn([&] {
    for (int i = 0; i < 3; ++i) ch.send(i);
    ch.close();
  });
  int received = 0;
  while (ch.recv()) ++received;
  producer.join();
  if (received != 3) throw std::runtime_error("received " + std::to_string(received) + " of 3 items");
}

void lock_order_body() {
  Mutex a, b;
  auto first = spawn(FiberOptions{.name = "a-then-b"}, [&] {
    std::lock_guard<Mutex> ga(a);
    fault_point();
    std::lock_guard<Mutex> gb(b);
  });
  auto second = spawn(FiberOptions{.name = "b-then-a"}, [&] {
    std::lock_guard<Mutex> gb(b);
    fault_point();
    std::lock_guard<Mutex> ga(a);
  });
  first.join();
  second.join();
}

struct Planted {
  const char* name;
  void (*body)();
  SimResult::Outcome expected;
};

class PlantedBugTest : public ::testing::TestWithParam<Planted> {};

TEST_P(PlantedBugTest, FoundWithinBoundedSeedsAndReplaysExactly) {
  const Planted& bug = GetParam();
  ExploreOptions options;
  options.seeds = 2000;
  const ExploreResult found = explore(bug.body, options);
  ASSERT_TRUE(found.found_failure) << bug.name << " survived " << found.seeds_run << " seeds";
  EXPECT_EQ(found.failure.outcome, bug.expected) << found.failure.message;
  std::printf("[ harness  ] %s: found at seed %llu after %llu seed(s), %llu steps: %s", bug.name,
              static_cast<unsigned long long>(found.failure.seed), static_cast<unsigned long long>(found.seeds_run),
              static_cast<unsigned long long>(found.failure.steps), found.failure.message.c_str());
  std::printf("\n");
  // The printed seed replays the same failure, step for step, twice.
  for (int replay = 0; replay < 2; ++replay) {
    const SimResult again = simulate(found.failure.seed, bug.body);
    EXPECT_EQ(again.outcome, found.failure.outcome);
    EXPECT_EQ(again.steps, found.failure.steps);
    EXPECT_EQ(again.message, found.failure.message);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Bugs, PlantedBugTest,
    ::testing::Values(Planted{"forgetful_mutex", &forgetful_mutex_body, SimResult::Outcome::kDeadlock},
                      Planted{"racy_wait_group", &racy_wait_group_body, SimResult::Outcome::kDeadlock},
                      Planted{"lossy_channel", &lossy_channel_body, SimResult::Outcome::kFailed},
                      Planted{"lock_order", &lock_order_body, SimResult::Outcome::kDeadlock}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SimulationTest, DeadlockReportNamesEveryParkedFiberAndWhatItWaitsOn) {
  ExploreOptions options;
  options.seeds = 2000;
  const ExploreResult r = explore(&lock_order_body, options);
  ASSERT_TRUE(r.found_failure);
  const std::string& m = r.failure.message;
  EXPECT_NE(m.find("'a-then-b' waits in mutex"), std::string::npos) << m;
  EXPECT_NE(m.find("'b-then-a' waits in mutex"), std::string::npos) << m;
  EXPECT_NE(m.find("'root' waits in join"), std::string::npos) << m;
}

TEST(SimulationTest, SameSeedSameInterleaving) {
  auto body = [] {
    std::vector<int>* order = new std::vector<int>;
    std::vector<JoinHandle<void>> hs;
    for (int f = 0; f < 4; ++f) hs.push_back(spawn([order, f] {
      for (int i = 0; i < 5; ++i) {
        order->push_back(f);
        this_fiber::yield();
      }
    }));
    for (auto& h : hs) h.join();
    // Encode the interleaving in the exception text, so two runs can be compared.
    std::string s;
    for (int v : *order) s += static_cast<char>('0' + v);
    delete order;
    throw std::runtime_error(s);
  };
  const SimResult a = simulate(7, body), b = simulate(7, body), c = simulate(8, body);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.steps, b.steps);
  EXPECT_NE(a.message, c.message) << "different seeds should (almost always) interleave differently";
}

TEST(SimulationTest, SimulatedTimeMakesLongSleepsInstant) {
  const auto real_start = std::chrono::steady_clock::now();
  const SimResult r = simulate(1, [] {
    const auto start = detail::now();
    auto sleeper = spawn([] { this_fiber::sleep_for(std::chrono::hours(1)); });
    this_fiber::sleep_for(std::chrono::seconds(10));
    sleeper.join();
    if (detail::now() - start < std::chrono::hours(1)) throw std::runtime_error("time did not advance");
  });
  EXPECT_TRUE(r.ok()) << r.message;
  EXPECT_LT(std::chrono::steady_clock::now() - real_start, std::chrono::seconds(5));
}

TEST(SimulationTest, ExceptionEscapingTheBodyIsAFailure) {
  const SimResult r = simulate(3, [] { throw std::logic_error("boom"); });
  EXPECT_EQ(r.outcome, SimResult::Outcome::kFailed);
  EXPECT_EQ(r.message, "exception: boom");
}

TEST(SimulationTest, ExceptionEscapingADetachedFiberIsAFailureNotATermination) {
  const SimResult r = simulate(3, [] {
    spawn(FiberOptions{.name = "fire-and-forget"}, [] { throw std::runtime_error("lost"); }).detach();
    this_fiber::yield();
  });
  EXPECT_EQ(r.outcome, SimResult::Outcome::kFailed);
  EXPECT_NE(r.message.find("exception escaped detached fiber 'fire-and-forget': lost"), std::string::npos)
      << r.message;
}

TEST(SimulationTest, CorrectMutexSurvivesManySeeds) {
  ExploreOptions options;
  options.seeds = 2000;
  const ExploreResult r = explore([] {
    Mutex m;
    int counter = 0;
    std::vector<JoinHandle<void>> hs;
    for (int f = 0; f < 3; ++f) hs.push_back(spawn([&] {
      for (int i = 0; i < 3; ++i) {
        std::lock_guard<Mutex> g(m);
        fault_point();
        ++counter;
      }
    }));
    for (auto& h : hs) h.join();
    if (counter != 9) throw std::runtime_error("lost increments");
  }, options);
  EXPECT_FALSE(r.found_failure) << r.failure.message;
  EXPECT_EQ(r.seeds_run, 2000u);
  std::printf("[ harness  ] %llu seeds in %.3f s (%.0f seeds/s)\n", static_cast<unsigned long long>(r.seeds_run),
              r.seconds, static_cast<double>(r.seeds_run) / r.seconds);
}

}  // namespace
}  // namespace spindle::testing
