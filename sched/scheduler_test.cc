// Executors with plain tasks (no fibers): submission from outside and inside,
// timers, parking, several schedulers at once.
#include "spindle/sched/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "spindle/sched/manual_executor.h"
#include "spindle/sched/os_thread.h"
#include "spindle/sched/thread_pool.h"

namespace spindle {
namespace {

using namespace std::chrono_literals;

// A task that counts its runs and optionally re-submits itself `respawns` times.
struct CountingTask : Task {
  std::atomic<int>* counter = nullptr;
  Executor* executor = nullptr;
  int respawns = 0;
  CountingTask() {
    run = [](Task* t) {
      auto* self = static_cast<CountingTask*>(t);
      self->counter->fetch_add(1);
      if (self->respawns-- > 0) self->executor->submit(self, Placement::kNext);
    };
  }
};

void wait_for(const std::atomic<int>& counter, int value) {
  const auto deadline = Clock::now() + 30s;
  while (counter.load() < value && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
}

TEST(SchedulerTest, RunsTasksSubmittedFromOutsideAndInside) {
  // Tasks and counter before the Scheduler, so that they outlive its workers: a
  // worker still reads a task (its respawn count) after the count that ends the
  // wait below.
  std::atomic<int> runs{0};
  std::vector<CountingTask> tasks(1000);
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "basic"});
  for (auto& t : tasks) {
    t.counter = &runs;
    t.executor = &sched;
    t.respawns = 9;
    sched.submit(&t);
  }
  wait_for(runs, 10'000);
  EXPECT_EQ(runs.load(), 10'000);
}

TEST(SchedulerTest, ConcurrentSubmittersFromPlainThreads) {
  // As above: the tasks outlive the workers (the vector was freed under a worker
  // still in the last task's run(), a rare segfault).
  std::atomic<int> runs{0};
  constexpr int kPerThread = 20'000;
  std::vector<CountingTask> tasks(4 * kPerThread);
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "submitters"});
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kPerThread; ++i) {
        CountingTask& t = tasks[th * kPerThread + i];
        t.counter = &runs;
        t.executor = &sched;
        sched.submit(&t);
      }
    });
  }
  for (auto& t : threads) t.join();
  wait_for(runs, 4 * kPerThread);
  EXPECT_EQ(runs.load(), 4 * kPerThread);
}

struct TimerTask : Task {
  std::atomic<int> fired{0};
  std::atomic<std::uint64_t> last_tag{0};
  Clock::time_point fired_at;
  TimerTask() {
    timer_expired = [](Task* t, std::uint64_t tag) {
      auto* self = static_cast<TimerTask*>(t);
      self->fired_at = Clock::now();
      self->last_tag = tag;
      self->fired.fetch_add(1);
    };
  }
};

TEST(SchedulerTest, TimerFiresNoEarlierThanItsDeadlineAndWakesAParkedWorker) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "timers"});
  std::this_thread::sleep_for(20ms);  // let the workers park
  TimerTask task;
  const auto deadline = Clock::now() + 30ms;
  sched.add_timer(&task, 7, deadline);
  const auto give_up = Clock::now() + 10s;
  while (task.fired.load() == 0 && Clock::now() < give_up) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(task.fired.load(), 1);
  EXPECT_GE(task.fired_at, deadline);
  EXPECT_EQ(task.last_tag.load(), 7u);
}

TEST(SchedulerTest, IdleWorkersParkInsteadOfSpinning) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "idle"});
  std::this_thread::sleep_for(50ms);
  const double before = detail::process_cpu_seconds();
  std::this_thread::sleep_for(300ms);
  const double after = detail::process_cpu_seconds();
  // Spinning workers would burn ~600 ms of CPU here; parked ones next to nothing.
  EXPECT_LT(after - before, 0.030);
  EXPECT_GE(sched.stats().parks, 2u);
}

// Busy-waits `ms` and records which thread ran it.
// Runs without yielding until `until_started` (if set) has started, for at most
// 30 ms without one and 20 s with one: the long cap keeps the test independent of
// how long a loaded machine takes to schedule the other worker.
struct BusyTask : Task {
  std::atomic<int>* done = nullptr;
  std::atomic<bool> started{false};
  BusyTask* until_started = nullptr;
  std::thread::id ran_on;
  BusyTask() {
    run = [](Task* t) {
      auto* self = static_cast<BusyTask*>(t);
      self->ran_on = std::this_thread::get_id();
      self->started.store(true);
      const auto until = Clock::now() + (self->until_started != nullptr ? 20s : 30ms);
      while (Clock::now() < until) {
        if (self->until_started != nullptr && self->until_started->started.load()) break;
      }
      self->done->fetch_add(1);
    };
  }
};

TEST(SchedulerTest, SecondSubmissionWakesASecondWorkerWhileTheFirstIsBusy) {
  // Regression: a worker woken into the spinning state that found its task in the
  // global queue kept counting as spinning, so later submissions woke nobody and
  // the second worker slept while work waited.
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "wake-second"});
  std::this_thread::sleep_for(20ms);  // both workers parked
  std::atomic<int> done{0};
  BusyTask a, b;
  a.done = b.done = &done;
  a.until_started = &b;  // a keeps its worker busy until b has started elsewhere
  sched.submit(&a);
  std::this_thread::sleep_for(5ms);  // a is running now
  sched.submit(&b);
  wait_for(done, 2);
  ASSERT_EQ(done.load(), 2);
  EXPECT_NE(a.ran_on, b.ran_on) << "b waited for a's worker instead of waking the idle one";
}

// A task that keeps its worker busy (no yield) until `want` such tasks run at
// once, or a long limit passes.
struct GatherTask : Task {
  std::atomic<int>* running = nullptr;
  std::atomic<int>* met = nullptr;  // tasks that saw all `want` running
  std::atomic<int>* finished = nullptr;
  int want = 0;
  GatherTask() {
    run = [](Task* t) {
      auto* self = static_cast<GatherTask*>(t);
      self->running->fetch_add(1);
      const auto limit = Clock::now() + 10s;  // reached only when the test fails
      while (self->running->load() < self->want && Clock::now() < limit) {
      }
      if (self->running->load() >= self->want) self->met->fetch_add(1);
      self->finished->fetch_add(1);
    };
  }
};

// Every worker must join a burst queued while they sleep, with no task ever
// yielding: from a plain thread (submit_batch wakes parked workers, fewer by the
// spinners that will take a task without a wake), and from inside a worker (one
// idle worker is woken for its queue; each thief that finds more queued than it
// takes wakes the next: stop_spinning's wake, conditional on queued work).
TEST(SchedulerTest, ABurstWakesEveryWorkerItCanUse) {
  constexpr int kWorkers = 4;
  Scheduler sched({.workers = kWorkers, .pinning = Pinning::kNone, .name = "burst"});
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> running{0}, met{0}, finished{0};
    std::vector<GatherTask> tasks(kWorkers);
    for (auto& t : tasks) {
      t.running = &running;
      t.met = &met;
      t.finished = &finished;
      t.want = kWorkers;
    }
    // One task queues the others on its own worker, then gathers with them.
    struct Spawner : Task {
      std::vector<GatherTask>* tasks = nullptr;
      Scheduler* sched = nullptr;
    } spawner;
    spawner.tasks = &tasks;
    spawner.sched = &sched;
    spawner.run = [](Task* t) {
      auto* self = static_cast<Spawner*>(t);
      for (std::size_t i = 1; i < self->tasks->size(); ++i) self->sched->submit(&(*self->tasks)[i]);
      (*self->tasks)[0].run(&(*self->tasks)[0]);
    };
    if (round % 2 == 0) {
      for (std::size_t i = 0; i + 1 < tasks.size(); ++i) tasks[i].next = &tasks[i + 1];
      sched.submit_batch(&tasks[0], kWorkers);
    } else {
      sched.submit(&spawner);
    }
    wait_for(finished, kWorkers);  // the tasks refer to this round's locals
    ASSERT_EQ(met.load(), kWorkers) << "round " << round << " (" << (round % 2 == 0 ? "from outside" : "from a worker")
                                    << "): the " << kWorkers << " tasks never all ran at once";
    std::this_thread::sleep_for(2ms);  // let the workers go idle again
  }
}

// A game loop's shape: a plain thread submits a burst (a batch, here of one
// task, as spawn_many does) every 2 ms and sleeps between them; or, with
// `batch` false, single submissions at the same pace. `n` bursts; the tasks must
// outlive the Scheduler's use.
void steady_bursts(Scheduler& sched, std::vector<CountingTask>& tasks, std::atomic<int>& ran, std::size_t n,
                   bool batch = true) {
  for (std::size_t i = 0; i < n; ++i) {
    CountingTask& t = tasks.emplace_back();
    t.counter = &ran;
    t.executor = &sched;
    if (batch) {
      sched.submit_batch(&t, 1);
    } else {
      sched.submit(&t);
    }
    std::this_thread::sleep_for(2ms);
  }
}

// SchedulerOptions::anticipate_bursts: once the pace is steady a worker wakes
// ahead of the next burst and finds it (a paced wake that is not a miss); once
// the loop stops, at most the one window already predicted is spent, and the
// Scheduler is idle again (parked, no CPU).
TEST(SchedulerTest, AWorkerWakesAheadOfASteadyPaceAndStopsWithIt) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "pace"});
  std::vector<CountingTask> tasks;
  tasks.reserve(20000);  // never reallocated: submitted tasks stay where they are
  std::atomic<int> ran{0};
  // A loaded machine may make the pace irregular for a while (no window then):
  // keep the loop going until a window caught its burst, for up to 20 s.
  const auto give_up = Clock::now() + 20s;
  SchedulerStats st;
  do {
    steady_bursts(sched, tasks, ran, 50);
    st = sched.stats();
  } while (st.paced_wakes <= st.paced_misses && Clock::now() < give_up && tasks.size() + 50 <= tasks.capacity());
  ASSERT_GT(st.paced_wakes, st.paced_misses) << "no worker ever woke ahead of a burst and found it ("
                                              << tasks.size() << " bursts 2 ms apart)";
  wait_for(ran, static_cast<int>(tasks.size()));
  // The loop stopped. The window predicted after the last burst may still be spent.
  std::this_thread::sleep_for(100ms);
  const SchedulerStats stopped = sched.stats();
  EXPECT_LE(stopped.paced_wakes, st.paced_wakes + 1);
  const double before = detail::process_cpu_seconds();
  std::this_thread::sleep_for(300ms);
  const double cpu = detail::process_cpu_seconds() - before;
  EXPECT_EQ(sched.stats().paced_wakes, stopped.paced_wakes) << "a worker woke ahead of bursts that stopped coming";
  EXPECT_LT(cpu, 0.030);
}

TEST(SchedulerTest, WithoutAnticipateBurstsNoWorkerWakesAhead) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .anticipate_bursts = false, .name = "nopace"});
  std::vector<CountingTask> tasks;
  tasks.reserve(200);
  std::atomic<int> ran{0};
  steady_bursts(sched, tasks, ran, 200);
  wait_for(ran, 200);
  EXPECT_EQ(sched.stats().paced_wakes, 0u);
}

// Single submissions at a steady pace (a ticker thread, or a frame spawned one
// job at a time) are not bursts: nobody spins ahead of them.
TEST(SchedulerTest, SingleSubmissionsAtASteadyPaceAreNotAnticipated) {
  Scheduler sched({.workers = 2, .pinning = Pinning::kNone, .name = "ticker"});
  std::vector<CountingTask> tasks;
  tasks.reserve(200);
  std::atomic<int> ran{0};
  steady_bursts(sched, tasks, ran, 200, /*batch=*/false);
  wait_for(ran, 200);
  EXPECT_EQ(sched.stats().paced_wakes, 0u);
}

TEST(SchedulerTest, TwoSchedulersRunSideBySide) {
  std::atomic<int> a{0}, b{0};
  CountingTask ta, tb;  // before the Schedulers: they outlive the workers
  Scheduler render({.workers = 1, .pinning = Pinning::kNone, .name = "render"});
  Scheduler io({.workers = 1, .pinning = Pinning::kNone, .name = "io"});
  ta.counter = &a;
  ta.executor = &render;
  ta.respawns = 99;
  tb.counter = &b;
  tb.executor = &io;
  tb.respawns = 99;
  render.submit(&ta);
  io.submit(&tb);
  wait_for(a, 100);
  wait_for(b, 100);
  EXPECT_EQ(a.load(), 100);
  EXPECT_EQ(b.load(), 100);
}

TEST(ThreadPoolTest, RunsEverythingAndFiresTimers) {
  std::atomic<int> runs{0};
  std::vector<CountingTask> tasks(500);  // before the pool: they outlive its threads
  ThreadPool pool(2, "compute");
  for (auto& t : tasks) {
    t.counter = &runs;
    t.executor = &pool;
    t.respawns = 1;
    pool.submit(&t);
  }
  TimerTask timer;
  const auto deadline = Clock::now() + 20ms;
  pool.add_timer(&timer, 3, deadline);
  wait_for(runs, 1000);
  EXPECT_EQ(runs.load(), 1000);
  const auto give_up = Clock::now() + 10s;
  while (timer.fired.load() == 0 && Clock::now() < give_up) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(timer.fired.load(), 1);
  EXPECT_GE(timer.fired_at, deadline);
}

TEST(ManualExecutorTest, RunsExactlyWhatItIsTold) {
  ManualExecutor ex;
  std::atomic<int> runs{0};
  CountingTask a, b;
  a.counter = b.counter = &runs;
  a.executor = b.executor = &ex;
  a.respawns = 1;  // a re-submits itself once
  ex.submit(&a);
  ex.submit(&b);
  EXPECT_EQ(runs.load(), 0) << "nothing runs until asked";
  EXPECT_EQ(ex.pending(), 2u);
  ASSERT_TRUE(ex.run_next());
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(ex.pending(), 2u);  // b, then a again
  EXPECT_EQ(ex.run_all(), 2u);
  EXPECT_EQ(runs.load(), 3);
  EXPECT_FALSE(ex.run_next());
}

TEST(ManualExecutorTest, DueTimersFireInsideRunNext) {
  ManualExecutor ex;
  TimerTask t;
  ex.add_timer(&t, 1, Clock::now() - 1ms);
  ex.add_timer(&t, 2, Clock::now() + 1h);
  EXPECT_EQ(t.fired.load(), 0);
  EXPECT_FALSE(ex.run_next());  // no task, but the due timer fired
  EXPECT_EQ(t.fired.load(), 1);
  EXPECT_EQ(t.last_tag.load(), 1u);
  EXPECT_EQ(ex.pending_timers(), 1u);
}

}  // namespace
}  // namespace spindle
