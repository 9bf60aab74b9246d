// Built at -O2. Fibers yield and sleep so that idle workers steal them; after every
// switch, what the runtime reads from thread-locals (current worker, current
// executor, current fiber) must describe the thread the fiber now runs on.
//
// The ground truth is the OS thread id (gettid(), GetCurrentThreadId()), fetched by
// an out-of-line call (detail::current_os_thread_id). pthread_self() would not do:
// glibc declares it __attribute__((const)), and at -O2 GCC reuses its first result
// across the switches, which is exactly the staleness this test hunts for.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/os_thread.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

TEST(FiberMigrationTest, ThreadLocalsAreReReadAfterEverySwitch) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "migrate"});
  std::mutex lock;
  std::map<long, std::set<int>> worker_seen_on_thread;
  std::atomic<int> wrong{0}, migrations{0};
  auto body = [&] {
    const std::uint64_t my_id = this_fiber::id();
    long last = static_cast<long>(detail::current_os_thread_id());  // out of line: never cached
    // Usually a few hundred rounds suffice; under sanitizers stealing is rarer, so
    // keep going (up to 30 s) until some fiber has moved.
    const auto give_up = Clock::now() + std::chrono::seconds(5);
    for (int i = 0; i < 2000 || (migrations.load() == 0 && Clock::now() < give_up); ++i) {
      if (i % 10 == 0) {
        this_fiber::sleep_for(std::chrono::microseconds(20));
      } else {
        this_fiber::yield();
      }
      const long now = static_cast<long>(detail::current_os_thread_id());
      const int worker = sched.current_worker_index();
      if (worker < 0 || Executor::current() != &sched || this_fiber::id() != my_id) ++wrong;
      if (now != last) ++migrations;
      last = now;
      std::lock_guard<std::mutex> lk(lock);
      worker_seen_on_thread[now].insert(worker);
    }
  };
  // All fibers start on the launcher's worker (spawning runs children there); the
  // other worker has to steal them, so they migrate.
  spawn(sched, [&] {
    std::vector<JoinHandle<void>> hs;
    for (int f = 0; f < 64; ++f) hs.push_back(spawn(body));
    for (auto& h : hs) h.join();
  }).join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(migrations.load(), 0) << "no fiber ever moved: the test proved nothing (steals: "
                                  << sched.stats().steals << ", threads seen: " << worker_seen_on_thread.size() << ")";
  for (const auto& [thread, workers] : worker_seen_on_thread) {
    EXPECT_EQ(workers.size(), 1u) << "one thread reported several worker indices";
  }
}

}  // namespace
}  // namespace spindle
