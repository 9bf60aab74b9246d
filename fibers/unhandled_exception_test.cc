// An exception that escapes a detached fiber is never lost: it goes to
// SchedulerOptions::on_unhandled_exception, or ends the program with a message
// naming the fiber and the exception (as an exception escaping a std::thread does).
#include <gtest/gtest.h>

#include "spindle/coro/death_test.h"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"

namespace spindle {
namespace {

struct Reports {
  std::mutex lock;
  std::map<std::uint64_t, std::string> what_by_fiber;  // fiber id -> what()
  std::vector<std::string> names;
  int calls = 0;
};

// Spawns kFibers detached fibers that throw and kFibers joined ones that throw on
// a scheduler with a counting handler; checks that the handler saw exactly the
// detached ones, each once, with its own exception and name. With
// `hold_worker`, the single worker is held by a fiber until every handle is
// detached, so each fiber surely ends after its detach; otherwise fibers end
// before or after their detach, as it happens.
void expect_each_detached_exception_reported_once(std::size_t workers, bool hold_worker) {
  constexpr int kFibers = 500;
  Reports reports;
  std::map<std::uint64_t, std::string> expected;
  int joined_errors = 0;
  {
    Scheduler sched({.workers = workers,
                     .pinning = Pinning::kNone,
                     .name = "handler",
                     .on_unhandled_exception = [&](const FiberInfo& fiber, std::exception_ptr error) {
                       std::string what;
                       try {
                         std::rethrow_exception(error);
                       } catch (const std::runtime_error& e) {
                         what = e.what();
                       } catch (...) {
                         what = "not a runtime_error";
                       }
                       std::lock_guard<std::mutex> lk(reports.lock);
                       ++reports.calls;
                       reports.what_by_fiber.emplace(fiber.id, what);
                       reports.names.emplace_back(fiber.name);
                     }});
    std::atomic<bool> holding{false}, go{false};
    JoinHandle<void> holder;
    if (hold_worker) {
      holder = spawn(sched, [&] {
        holding.store(true);
        while (!go.load()) std::this_thread::yield();  // keeps the worker: nothing else runs
      });
      while (!holding.load()) std::this_thread::yield();
    }
    std::vector<JoinHandle<void>> to_join;
    for (int i = 0; i < kFibers; ++i) {
      std::string what = "boom " + std::to_string(i);
      auto h = spawn(FiberOptions{.executor = &sched, .name = "thrower"}, [what] { throw std::runtime_error(what); });
      expected.emplace(h.id(), what);
      h.detach();
      // Joined fibers that throw: join() rethrows, the handler never hears of them.
      to_join.push_back(spawn(sched, [] { throw std::runtime_error("joined"); }));
    }
    go.store(true);
    if (hold_worker) holder.join();
    for (auto& h : to_join) {
      try {
        h.join();
      } catch (const std::runtime_error& e) {
        joined_errors += std::string(e.what()) == "joined";
      }
    }
  }  // ~Scheduler waits for every fiber, reported ones included
  EXPECT_EQ(joined_errors, kFibers);
  EXPECT_EQ(reports.calls, kFibers);
  EXPECT_EQ(reports.what_by_fiber, expected);
  for (const auto& name : reports.names) ASSERT_EQ(name, "thrower");
}

TEST(UnhandledExceptionTest, HandlerGetsEachExceptionOnceWhenFibersEndAfterTheirDetach) {
  expect_each_detached_exception_reported_once(1, true);
}

TEST(UnhandledExceptionTest, HandlerGetsEachExceptionOnceWhereverTheFibersEnd) {
  expect_each_detached_exception_reported_once(2, false);
}

TEST(UnhandledExceptionTest, DetachAfterTheFiberEndedReportsOnTheDetachingThread) {
  // A handle may be detached long after its fiber ended, even after its scheduler
  // is gone: the handler captured at the fiber's end still runs, on this thread.
  std::atomic<int> calls{0};
  std::thread::id reported_on;
  JoinHandle<void> h;
  {
    Scheduler sched({.workers = 1,
                     .pinning = Pinning::kNone,
                     .name = "late-detach",
                     .on_unhandled_exception = [&](const FiberInfo&, std::exception_ptr) {
                       reported_on = std::this_thread::get_id();
                       ++calls;
                     }});
    h = spawn(sched, [] { throw std::logic_error("late"); });
  }  // the fiber has ended: ~Scheduler waited for it
  EXPECT_EQ(calls.load(), 0) << "not detached yet: join() could still take the exception";
  h.detach();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(reported_on, std::this_thread::get_id());
}

TEST(UnhandledExceptionDeathTest, DefaultTerminatesNamingTheFiberAndTheException) {
  detail::set_death_test_style();  // "fast" under qemu (coro/death_test.h)
  // Detached before the fiber ends: reported on the worker.
  EXPECT_DEATH(
      {
        Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "default"});
        std::atomic<bool> go{false};
        auto h = spawn(FiberOptions{.executor = &sched, .name = "loader"}, [&go] {
          while (!go.load()) this_fiber::sleep_for(std::chrono::milliseconds(1));
          throw std::runtime_error("texture not found");
        });
        h.detach();
        go.store(true);
      },
      "exception escaped detached fiber #.+ 'loader': texture not found");
  // Detached after it ended (deterministically, on a ManualExecutor): reported by
  // detach().
  EXPECT_DEATH(
      {
        ManualExecutor manual;
        auto h = spawn(FiberOptions{.executor = &manual, .name = "parser"},
                       [] { throw std::invalid_argument("bad token"); });
        manual.run_all();
        h.detach();
      },
      "exception escaped detached fiber #.+ 'parser': bad token");
}

}  // namespace
}  // namespace spindle
