// Scheduler::Worker and what the files of the Scheduler share about it. Private
// to sched/ (scheduler.cc: the pool, work counting and shutdown;
// scheduler_submit.cc: submission and waking parked workers; scheduler_timers.cc:
// timers and the timer watch; worker_loop.cc: what a worker does at each
// scheduling tick, the hand-off seam and the poller hooks included).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "spindle/sched/spin_pause.h"
#include "spindle/sched/parker.h"
#include "spindle/sched/run_queue.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sched/timer_heap.h"

namespace spindle::detail {

// Every kGlobalPollInterval scheduling ticks a worker takes from the global queue
// first, so that a busy local queue cannot starve submissions from outside.
inline constexpr std::uint32_t kGlobalPollInterval = 61;
// A task run from `runnext` inherits the time slice of the one that readied it;
// after this many in a row the worker goes back to its queue, so two fibers waking
// each other cannot starve the rest.
inline constexpr std::uint32_t kRunnextStreakLimit = 16;
inline constexpr int kStealRounds = 4;
// A thief takes another worker's runnext task only once that worker has kept it
// this long without reaching a scheduling point (Go's runqgrab waits 3 µs too):
// normally the owner runs it next, within a fraction of this.
inline constexpr Clock::duration kRunnextStealDelay = std::chrono::microseconds(3);
// Counts of outstanding work a worker takes at a time (on_work_started).
inline constexpr std::int64_t kSpawnCredit = 64;

// Scheduler::Worker* of this thread. Read directly: no function of the Scheduler
// switches fibers between two reads of it (worker_main runs tasks, but on the
// worker's own stack, which never changes threads), so the compiler's caching of
// the thread-local's address is always correct there.
extern constinit thread_local void* tls_worker;  // constinit: no TLS wrapper call

// Statistics counters have one writer (their worker) and racy readers (stats()):
// a plain load+store avoids a locked read-modify-write on every task.
inline void bump(std::atomic<std::uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Counts a thread that is not one of the scheduler's workers for as long as it is
// inside submit() or add_timer() (Scheduler::foreign_calls_). The increment may be
// relaxed: it is sequenced before the task is published under the scheduler's
// lock, so it happens before the task can run and finish. The release decrement is
// the caller's last touch of the scheduler; it pairs with the destructor's acquire
// load of the count.
class ForeignCall {
 public:
  explicit ForeignCall(std::atomic<int>& count) : count_(count) { count_.fetch_add(1, std::memory_order_relaxed); }
  ~ForeignCall() { count_.fetch_sub(1, std::memory_order_release); }
  ForeignCall(const ForeignCall&) = delete;
  ForeignCall& operator=(const ForeignCall&) = delete;

 private:
  std::atomic<int>& count_;
};

inline std::uint64_t next_random(std::uint64_t& state) {  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

}  // namespace spindle::detail

namespace spindle {

struct Scheduler::Worker {
  Scheduler* sched = nullptr;
  int index = 0;
  std::vector<int> cpus;  // pinning target; empty: not pinned
  detail::RunQueue queue;
  // The task to run next. Only the owner stores a task here; the owner takes it
  // with an exchange and thieves with a compare-exchange from the value they
  // watched (steal_runnext), so each task is taken once. With one worker nobody
  // steals and plain loads and stores do.
  std::atomic<Task*> runnext{nullptr};
  // Scheduling ticks: the owner bumps it at each scheduling point (load + store,
  // no read-modify-write); thieves read it to tell a worker stuck in one long task
  // from one that will run its runnext task in a moment.
  std::atomic<std::uint32_t> tick{0};
  std::uint32_t runnext_streak = 0;
  std::int64_t spawn_credit = 0;  // owner only; see on_work_started
  bool spinning = false;
  // Owner only: ran a task since it last woke from parking. Only such a worker
  // spins before parking again (spin_before_park): one woken for work that
  // another took parks at once instead of spinning beside the worker that has it.
  bool ran_since_park = false;
  // Owner only: this worker is Scheduler::anticipator_ and wakes at pace_wake to
  // spin until pace_until for a predicted burst (SchedulerOptions::anticipate_bursts).
  bool pacing = false;
  Clock::time_point pace_wake{}, pace_until{};
  int pace_avoid_cpu = -1;  // the CPU the bursts come from: spin elsewhere
  bool idle = false;        // in sched->idle_; guarded by sched->lock_
  bool woken_spinning = false;  // guarded by sched->lock_: woken by wake_idle_worker
  detail::Parker parker;
  // Blocked (or about to block) in the poller instead of on `parker`: whoever
  // unparks it must also interrupt the poller (Scheduler::unpark_worker).
  std::atomic<bool> in_poller{false};
  // Set by this worker's thread while a poll_io(run_first) readies fibers (push_local).
  bool polling_idle = false;
  std::mutex timer_lock;
  detail::TimerHeap timers;                              // guarded by timer_lock
  std::atomic<std::int64_t> next_deadline{INT64_MAX};    // timers' earliest, in Clock ticks
  // Groups of equal distance, nearest first: the groups of this worker's core
  // (Scheduler::victims_by_core_), which list this worker too (steal skips it).
  std::span<const std::vector<int>> victim_groups;
  std::uint64_t rng = 0;
  std::atomic<std::uint64_t> tasks_run{0}, steals{0}, parks{0}, global_polls{0};
  std::atomic<std::uint64_t> parked_ns{0};
  std::thread thread;
};

}  // namespace spindle
