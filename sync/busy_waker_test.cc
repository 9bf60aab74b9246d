// A fiber that becomes ready while the fiber that readied it keeps its worker busy
// must run on an idle worker, not wait behind the busy one: after a wake
// (Channel::send, Event::set, Semaphore::release, Mutex::unlock) and after a
// sleep whose timer lives on the busy worker.
//
// Each test observes order, not time: the busy fiber computes (no yield, no call
// into spindle) until the woken fiber has run or a long limit passes, and reports
// which came first. A scheduler that leaves the woken fiber behind the busy one
// makes the busy fiber see the limit first, however fast or slow the machine.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/test_sizes.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/channel.h"
#include "spindle/sync/event.h"
#include "spindle/sync/mutex.h"
#include "spindle/sync/semaphore.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

// Far longer than any wake takes, even under TSan on a loaded machine; the tests
// take this long only when they fail.
constexpr auto kBusyLimit = 4s;

std::atomic<std::uint64_t> sink{0};

// Computes without yielding until `flag` is set or kBusyLimit has passed. True if
// the flag was set first.
bool compute_until(const std::atomic<bool>& flag) {
  const auto limit = Clock::now() + kBusyLimit;
  std::uint64_t x = 1;
  while (!flag.load(std::memory_order_acquire) && Clock::now() < limit) {
    for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  sink.fetch_add(x, std::memory_order_relaxed);
  return flag.load(std::memory_order_acquire);
}

// Fiber B runs `hold`, lets fiber A start `wait` and park in it, then runs `wake`
// and computes. A must finish its wait on the other, idle, worker before B's
// computation ends.
template <class Hold, class Wait, class Wake>
void expect_woken_fiber_runs_while_waker_computes(const char* name, Hold hold, Wait wait, Wake wake) {
  Scheduler sched(testing_sizes::unpinned(2, name));
  std::atomic<bool> held{false}, waiting{false}, woken{false};
  auto b = spawn(sched, [&] {
    hold();
    held = true;
    while (!waiting.load()) this_fiber::sleep_for(1ms);
    this_fiber::sleep_for(20ms);  // A parks in its wait meanwhile (if not, A runs at once: no harm)
    wake();
    return compute_until(woken);
  });
  auto a = spawn(sched, [&] {
    while (!held.load()) this_fiber::sleep_for(1ms);
    waiting = true;
    wait();
    woken = true;
  });
  EXPECT_TRUE(b.join()) << name << ": the woken fiber waited for its waker's worker while the other worker idled";
  a.join();
}

TEST(BusyWakerTest, ChannelReceiverRunsWhileSenderComputes) {
  Channel<int> ch;  // unbuffered
  expect_woken_fiber_runs_while_waker_computes(
      "chan", [] {}, [&] { EXPECT_EQ(ch.recv(), 7); }, [&] { ch.send(7); });
}

TEST(BusyWakerTest, EventWaiterRunsWhileSetterComputes) {
  Event ev;
  expect_woken_fiber_runs_while_waker_computes(
      "event", [] {}, [&] { ev.wait(); }, [&] { ev.set(); });
}

TEST(BusyWakerTest, SemaphoreAcquirerRunsWhileReleaserComputes) {
  Semaphore sem(0);
  expect_woken_fiber_runs_while_waker_computes(
      "sem", [] {}, [&] { sem.acquire(); }, [&] { sem.release(); });
}

TEST(BusyWakerTest, MutexWaiterRunsWhileUnlockerComputes) {
  Mutex m;
  expect_woken_fiber_runs_while_waker_computes(
      "mutex", [&] { m.lock(); }, [&] { std::lock_guard<Mutex> g(m); }, [&] { m.unlock(); });
}

// A sleeps on the worker that B then occupies. The timer must fire on the idle
// worker. Which worker runs which fiber is up to the scheduler, so each round
// checks (by thread id, as a user could) whether A slept on the thread where B
// computes; rounds where it did not prove nothing and are repeated.
TEST(BusyWakerTest, SleeperWakesWhileItsWorkerComputes) {
  Scheduler sched(testing_sizes::unpinned(2, "sleep"));
  int decisive = 0;
  for (int round = 0; round < 200 && decisive < 3; ++round) {
    std::this_thread::sleep_for(2ms);  // let the workers go idle between rounds
    auto b = spawn(sched, [] {
      std::atomic<bool> woken{false};
      std::atomic<std::thread::id> slept_on{};
      // Spawned from a fiber, the child runs first, on this worker; B's
      // continuation runs after the child parks in its sleep.
      auto a = spawn([&] {
        slept_on = std::this_thread::get_id();
        this_fiber::sleep_for(20ms);
        woken = true;
      });
      const bool same_worker = slept_on.load() == std::this_thread::get_id();
      const bool woke_first = same_worker && compute_until(woken);
      a.join();
      return std::pair{same_worker, woke_first};
    });
    const auto [same_worker, woke_first] = b.join();
    if (!same_worker) continue;
    ++decisive;
    EXPECT_TRUE(woke_first) << "the sleeper's timer waited for its busy worker while the other worker idled";
    if (!woke_first) break;
  }
  EXPECT_GT(decisive, 0) << "no round put the sleeper and the busy fiber on one worker";
}

}  // namespace
}  // namespace spindle
