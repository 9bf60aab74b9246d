#include "spindle/sched/scheduler.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "spindle/sched/fault_point.h"
#include "spindle/sched/parker.h"
#include "spindle/sched/run_queue.h"
#include "spindle/sched/timer_heap.h"

namespace spindle {
namespace {

// Every kGlobalPollInterval scheduling ticks a worker takes from the global queue
// first, so that a busy local queue cannot starve submissions from outside.
constexpr std::uint32_t kGlobalPollInterval = 61;
// A task run from `runnext` inherits the time slice of the one that readied it;
// after this many in a row the worker goes back to its queue, so two fibers waking
// each other cannot starve the rest.
constexpr std::uint32_t kRunnextStreakLimit = 16;
constexpr int kStealRounds = 4;
// Counts of outstanding work a worker takes at a time (on_work_started).
constexpr std::int64_t kSpawnCredit = 64;

// Scheduler::Worker* of this thread. Read directly: no function in this file
// switches fibers between two reads of it (worker_main runs tasks, but on the
// worker's own stack, which never changes threads), so the compiler's caching of
// the thread-local's address is always correct here.
thread_local void* tls_worker = nullptr;

// Statistics counters have one writer (their worker) and racy readers (stats()):
// a plain load+store avoids a locked read-modify-write on every task.
void bump(std::atomic<std::uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::uint64_t next_random(std::uint64_t& state) {  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

}  // namespace

struct Scheduler::Worker {
  Scheduler* sched = nullptr;
  int index = 0;
  std::vector<int> cpus;  // pinning target; empty: not pinned
  detail::RunQueue queue;
  Task* runnext = nullptr;  // owner only
  std::uint32_t tick = 0;
  std::uint32_t runnext_streak = 0;
  std::int64_t spawn_credit = 0;  // owner only; see on_work_started
  bool spinning = false;
  bool idle = false;        // in sched->idle_; guarded by sched->lock_
  bool woken_spinning = false;  // guarded by sched->lock_: woken by wake_idle_worker
  detail::Parker parker;
  std::mutex timer_lock;
  detail::TimerHeap timers;                              // guarded by timer_lock
  std::atomic<std::int64_t> next_deadline{INT64_MAX};    // timers' earliest, in Clock ticks
  std::vector<std::vector<int>> victim_groups;
  std::vector<int> victim_scratch;
  std::uint64_t rng = 0;
  std::atomic<std::uint64_t> tasks_run{0}, steals{0}, parks{0}, global_polls{0};
  std::atomic<std::uint64_t> parked_ns{0};
  std::thread thread;
};

Scheduler::Scheduler(SchedulerOptions options)
    : options_(std::move(options)), topology_(options_.topology ? *options_.topology : Topology::detect()) {
  const auto& cores = topology_.cores();
  std::size_t n = options_.workers;
  if (n == 0) {
    n = options_.pinning == Pinning::kCores          ? cores.size()
        : options_.pinning == Pinning::kHyperthreads ? static_cast<std::size_t>(topology_.pu_count())
                                                     : std::max(1u, std::thread::hardware_concurrency());
  }
  // Place worker i: its core (for stealing distance) and the CPUs it is pinned to.
  std::vector<int> core_of(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->sched = this;
    w->index = static_cast<int>(i);
    w->rng = 0x9E3779B97F4A7C15ULL * (i + 1) + reinterpret_cast<std::uintptr_t>(this);
    if (options_.pinning == Pinning::kHyperthreads) {
      // Walk PUs core by core, so worker i and i+1 share a core where they can.
      std::size_t k = i % static_cast<std::size_t>(topology_.pu_count());
      for (const Core& c : cores) {
        if (k < c.pus.size()) {
          core_of[i] = c.index;
          w->cpus = {c.pus[k]};
          break;
        }
        k -= c.pus.size();
      }
    } else {
      const Core& c = cores[i % cores.size()];
      core_of[i] = c.index;
      if (options_.pinning == Pinning::kCores) w->cpus = c.pus;
    }
    workers_.push_back(std::move(w));
  }
  // Victims grouped by topological distance, nearest first.
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::vector<int>> groups(4);
    for (std::size_t j = 0; j < n; ++j) {
      if (j != i) groups[static_cast<std::size_t>(topology_.distance(core_of[i], core_of[j]))].push_back(static_cast<int>(j));
    }
    for (auto& g : groups) {
      if (!g.empty()) workers_[i]->victim_groups.push_back(std::move(g));
    }
  }
  for (auto& w : workers_) {
    w->thread = std::thread([this, wp = w.get()] { worker_main(*wp); });
    // Pinned here rather than by the worker itself, so the placement holds by the
    // time the constructor returns.
    if (!w->cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (int cpu : w->cpus) CPU_SET(cpu, &set);
      pthread_setaffinity_np(w->thread.native_handle(), sizeof(set), &set);
    }
  }
}

Scheduler::~Scheduler() {
  stopping_.store(true, std::memory_order_seq_cst);
  // Workers hand back their spawn credit when they see stopping_: wake them all so
  // that parked ones do too.
  for (auto& w : workers_) w->parker.unpark();
  {
    std::unique_lock<std::mutex> lk(lock_);
    while (outstanding_.load(std::memory_order_acquire) > 0) {
      if (!drained_.wait_for(lk, std::chrono::seconds(5), [&] { return outstanding_.load() <= 0; })) {
        std::fprintf(stderr, "spindle: Scheduler '%s' is being destroyed and still waits for %lld fiber(s)\n",
                     name(), static_cast<long long>(outstanding_.load()));
      }
    }
    shutdown_.store(true, std::memory_order_seq_cst);
  }
  for (auto& w : workers_) w->parker.unpark();
  for (auto& w : workers_) w->thread.join();
}

// Outstanding-work accounting without a shared read-modify-write per fiber: a
// worker takes kSpawnCredit counts of outstanding_ at a time and spends them on
// spawns (one each); fibers finishing on it give counts back to its credit, and
// only a surplus goes back to outstanding_. So outstanding_ = live fibers + the
// workers' credit, never less than the live fibers. Once stopping_ is set, workers
// hand back all their credit (on_work_finished, and find_work for idle ones), so
// outstanding_ reaches zero exactly when the last fiber has finished.
void Scheduler::on_work_started() {
  if (Worker* w = current_worker()) {
    if (w->spawn_credit == 0) {
      outstanding_.fetch_add(kSpawnCredit, std::memory_order_relaxed);
      w->spawn_credit = kSpawnCredit;
    }
    --w->spawn_credit;
    return;
  }
  if (stopping_.load(std::memory_order_acquire)) {
    throw std::logic_error(std::string("spindle: spawn on Scheduler '") + name() + "' after its shutdown began");
  }
  outstanding_.fetch_add(1, std::memory_order_relaxed);
}

void Scheduler::on_work_finished() noexcept {
  Worker* w = current_worker();
  if (w == nullptr) {
    give_back_work(1);
    return;
  }
  ++w->spawn_credit;
  if (w->spawn_credit > 2 * kSpawnCredit) {
    give_back_work(w->spawn_credit - kSpawnCredit);
    w->spawn_credit = kSpawnCredit;
  }
  if (stopping_.load(std::memory_order_acquire)) give_back_credit(*w);
}

void Scheduler::give_back_credit(Worker& w) {
  if (w.spawn_credit == 0) return;
  give_back_work(std::exchange(w.spawn_credit, 0));
}

void Scheduler::give_back_work(std::int64_t n) {
  if (outstanding_.fetch_sub(n, std::memory_order_acq_rel) == n && stopping_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lk(lock_);
    drained_.notify_all();
  }
}

Scheduler::Worker* Scheduler::current_worker() const {
  auto* w = static_cast<Worker*>(tls_worker);
  return w != nullptr && w->sched == this ? w : nullptr;
}

int Scheduler::current_worker_index() const {
  Worker* w = current_worker();
  return w != nullptr ? w->index : -1;
}

void Scheduler::submit(Task* task, Placement placement) {
  if (Worker* w = current_worker()) {
    push_local(*w, task, placement);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(lock_);
    global_.push_back(task);
    global_size_.store(global_.size(), std::memory_order_relaxed);
  }
  wake_idle_worker();
}

void Scheduler::push_local(Worker& w, Task* task, Placement placement) {
  if (placement == Placement::kNext) {
    task = std::exchange(w.runnext, task);  // the old runnext goes to the queue
    if (task == nullptr) return;            // nobody can steal runnext: no one to wake
  }
  const bool was_empty = w.queue.empty();
  if (was_empty && w.runnext == nullptr && nobody_would_steal()) {
    // First or last in line, it is next in line all the same: runnext is that
    // place, and taking a task from runnext costs no atomic read-modify-write (the
    // ring's pop does). Only while every other worker is busy: an idle or spinning
    // one would want to steal it. A yield ping-pong between two fibers, or a fiber
    // spawning and joining children one at a time, thus runs without atomics.
    w.runnext = task;
    return;
  }
  if (placement == Placement::kFront && w.queue.push_front(task)) {
    // queued first in line
  } else if (!w.queue.push(task)) [[unlikely]] {
    overflow_to_global(w, task);
  }
  // Only a push into an empty queue needs to look for idle workers: a worker that
  // went idle after this queue was already non-empty saw it in its final re-check.
  // The fence pairs with the idle worker's seq_cst increment of idle_count_ before
  // its re-check (Dekker): either it sees our task or we see it idle.
  if (was_empty && workers_.size() > 1) {  // a lone worker has nobody to wake
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (idle_count_.load(std::memory_order_relaxed) > 0 && spinning_.load(std::memory_order_relaxed) == 0) {
      wake_idle_worker();
    }
  }
}

bool Scheduler::nobody_would_steal() const {
  return workers_.size() == 1 ||
         (idle_count_.load(std::memory_order_relaxed) == 0 && spinning_.load(std::memory_order_relaxed) == 0);
}

void Scheduler::overflow_to_global(Worker& w, Task* task) {
  detail::TaskList batch;
  while (!w.queue.take_half_for_overflow(task, batch)) {
    if (w.queue.push(task)) return;
  }
  std::lock_guard<std::mutex> lk(lock_);
  while (Task* t = batch.pop_front()) global_.push_back(t);
  global_size_.store(global_.size(), std::memory_order_relaxed);
}

void Scheduler::wake_idle_worker() {
  SPINDLE_FAULT_POINT();
  // At most one worker is woken into the spinning state at a time (Go's wakep): it
  // wakes the next one when it finds work, so wakeups ramp up with demand.
  if (idle_count_.load(std::memory_order_seq_cst) == 0) return;
  int expected = 0;
  if (!spinning_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) return;
  Worker* target = nullptr;
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (!idle_.empty()) {
      target = workers_[static_cast<std::size_t>(idle_.back())].get();
      idle_.pop_back();
      idle_count_.fetch_sub(1, std::memory_order_seq_cst);
      target->idle = false;
      target->woken_spinning = true;
    }
  }
  if (target == nullptr) {
    spinning_.fetch_sub(1, std::memory_order_seq_cst);
    return;
  }
  target->parker.unpark();
}

void Scheduler::stop_spinning(Worker& w) {
  if (!w.spinning) return;
  w.spinning = false;
  // The last spinner to find work wakes another, so that if more work is queued a
  // new thief comes looking (Go's resetspinning).
  if (spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1) wake_idle_worker();
}

void Scheduler::worker_main(Worker& w) {
  tls_worker = &w;
  set_current(this);
  const std::string thread_name = (options_.name + "/" + std::to_string(w.index)).substr(0, 15);
  pthread_setname_np(pthread_self(), thread_name.c_str());
  while (Task* t = find_work(w)) {
    // A spinning worker that found work, wherever it found it, stops counting as
    // spinning (and, if it was the last one, wakes another to keep looking);
    // otherwise submitters would think someone is still looking for work.
    stop_spinning(w);
    bump(w.tasks_run);
    t->run(t);
  }
  set_current(nullptr);
  tls_worker = nullptr;
}

// The hand-off path runs the same schedule as find_work (runnext within its streak
// limit, then the local queue) minus what only the loop does; it refuses at the
// ticks where the loop has periodic work, so a chain of hand-offs still returns
// to the loop at least every kGlobalPollInterval tasks.
bool Scheduler::periodic_work_due(const Worker& w, std::uint32_t tick) const {
  return (tick % kGlobalPollInterval == 0 && global_size_.load(std::memory_order_relaxed) > 0) ||
         (w.next_deadline.load(std::memory_order_relaxed) != INT64_MAX && (tick & 15) == 0);
}

Task* Scheduler::take_for_handoff(const Executor* executor, void (*run)(Task*)) {
  auto* w = static_cast<Worker*>(tls_worker);
  if (w == nullptr || w->sched != executor) return nullptr;
  const std::uint32_t tick = w->tick + 1;
  if (w->sched->periodic_work_due(*w, tick)) return nullptr;
  Task* t;
  if (w->runnext != nullptr) {
    // At the streak limit the loop moves runnext behind queued work: leave it that.
    if (w->runnext->run != run) return nullptr;
    if (w->runnext_streak + 1 >= kRunnextStreakLimit && !w->queue.empty()) return nullptr;
    t = std::exchange(w->runnext, nullptr);
    ++w->runnext_streak;
  } else {
    t = w->queue.pop_if([run](Task* task) { return task->run == run; });
    if (t == nullptr) return nullptr;
    w->runnext_streak = 0;
  }
  w->tick = tick;
  bump(w->tasks_run);
  return t;
}

bool Scheduler::may_hand_off(const Executor* executor) {
  auto* w = static_cast<Worker*>(tls_worker);
  if (w == nullptr || w->sched != executor) return false;
  const std::uint32_t tick = w->tick + 1;
  if (w->sched->periodic_work_due(*w, tick)) return false;
  w->tick = tick;
  bump(w->tasks_run);
  return true;
}

Task* Scheduler::find_work(Worker& w) {
  for (;;) {
    if (w.spawn_credit != 0 && stopping_.load(std::memory_order_relaxed)) give_back_credit(w);
    ++w.tick;
    if (w.next_deadline.load(std::memory_order_relaxed) != INT64_MAX && (w.tick & 15) == 0) fire_timers(w);
    if (w.tick % kGlobalPollInterval == 0 && global_size_.load(std::memory_order_relaxed) > 0) {
      if (Task* t = take_global(w, false)) return t;
    }
    if (w.runnext != nullptr) {
      // Past the streak limit runnext yields its turn to the queue, if anything is
      // queued there to be starved.
      if (++w.runnext_streak < kRunnextStreakLimit || w.queue.empty()) return std::exchange(w.runnext, nullptr);
      push_local(w, std::exchange(w.runnext, nullptr), Placement::kBack);
    }
    w.runnext_streak = 0;
    if (Task* t = w.queue.pop()) return t;
    if (global_size_.load(std::memory_order_relaxed) > 0) {
      if (Task* t = take_global(w, true)) return t;
    }
    if (fire_timers(w)) continue;

    // Steal, spinning, only while fewer than half the workers spin.
    const int busy = static_cast<int>(workers_.size()) - idle_count_.load(std::memory_order_relaxed);
    if (w.spinning || 2 * spinning_.load(std::memory_order_relaxed) < busy) {
      if (!w.spinning) {
        w.spinning = true;
        spinning_.fetch_add(1, std::memory_order_seq_cst);
      }
      for (int round = 0; round < kStealRounds; ++round) {
        if (Task* t = steal(w)) {
          stop_spinning(w);
          return t;
        }
      }
    }

    // Nothing found: announce idleness, re-check everything, then park.
    SPINDLE_FAULT_POINT();
    {
      std::unique_lock<std::mutex> lk(lock_);
      if (shutdown_.load(std::memory_order_acquire) && global_.empty() && w.queue.empty()) {
        lk.unlock();
        stop_spinning(w);
        return nullptr;
      }
      if (!global_.empty()) {
        Task* t = global_.pop_front();
        global_size_.store(global_.size(), std::memory_order_relaxed);
        lk.unlock();
        stop_spinning(w);
        return t;
      }
      w.idle = true;
      w.woken_spinning = false;
      idle_.push_back(w.index);
      idle_count_.fetch_add(1, std::memory_order_seq_cst);
    }
    if (w.spinning) {
      w.spinning = false;
      spinning_.fetch_sub(1, std::memory_order_seq_cst);
    }
    // Dekker with push_local's fence: we announced idleness (seq_cst) before
    // looking at the queues, it published its task before looking for idlers.
    SPINDLE_FAULT_POINT();  // between announcing idleness and the re-check
    bool work_appeared = any_local_work();
    if (!work_appeared) {
      bump(w.parks);
      const std::int64_t d = w.next_deadline.load(std::memory_order_acquire);
      std::optional<Clock::time_point> deadline;
      if (d != INT64_MAX) deadline = Clock::time_point(Clock::duration(d));
      const auto parked_at = Clock::now();
      w.parker.park(deadline);
      const auto slept = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - parked_at).count();
      w.parked_ns.store(w.parked_ns.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(slept),
                        std::memory_order_relaxed);
    }
    std::lock_guard<std::mutex> lk(lock_);
    if (w.idle) {  // timed out, re-checked, or spurious: leave the idle list ourselves
      idle_.erase(std::find(idle_.begin(), idle_.end(), w.index));
      idle_count_.fetch_sub(1, std::memory_order_seq_cst);
      w.idle = false;
    } else if (w.woken_spinning) {  // wake_idle_worker counted us as spinning
      w.woken_spinning = false;
      w.spinning = true;
    }
  }
}

bool Scheduler::any_local_work() const {
  for (const auto& v : workers_) {
    if (!v->queue.empty()) return true;
  }
  return global_size_.load(std::memory_order_seq_cst) > 0;
}

Task* Scheduler::take_global(Worker& w, bool batch) {
  SPINDLE_FAULT_POINT();
  std::lock_guard<std::mutex> lk(lock_);
  Task* first = global_.pop_front();
  if (first == nullptr) return nullptr;
  if (batch) {
    // Take a fair share into the local queue, at most half of it (Go's globrunqget).
    std::size_t n = std::min(global_.size(), global_.size() / workers_.size() + 1);
    n = std::min<std::size_t>(n, detail::RunQueue::kCapacity / 2);
    for (std::size_t i = 0; i < n; ++i) {
      Task* t = global_.pop_front();
      if (!w.queue.push(t)) {
        global_.push_back(t);
        break;
      }
    }
  }
  global_size_.store(global_.size(), std::memory_order_relaxed);
  bump(w.global_polls);
  return first;
}

Task* Scheduler::steal(Worker& w) {
  SPINDLE_FAULT_POINT();
  for (const auto& group : w.victim_groups) {
    // Random start and direction within the group, so thieves spread out.
    const std::size_t n = group.size();
    const std::size_t start = next_random(w.rng) % n;
    for (std::size_t k = 0; k < n; ++k) {
      Worker& victim = *workers_[static_cast<std::size_t>(group[(start + k) % n])];
      if (Task* t = victim.queue.steal_into(w.queue)) {
        bump(w.steals);
        return t;
      }
    }
  }
  return nullptr;
}

void Scheduler::add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) {
  Worker* self = current_worker();
  Worker& w = self != nullptr ? *self : *workers_[0];
  {
    std::lock_guard<std::mutex> lk(w.timer_lock);
    w.timers.add(task, tag, deadline);
    w.next_deadline.store(w.timers.next_deadline().time_since_epoch().count(), std::memory_order_release);
  }
  if (&w != self) w.parker.unpark();  // let it re-arm its park timeout
}

bool Scheduler::fire_timers(Worker& w) {
  if (w.next_deadline.load(std::memory_order_acquire) > Clock::now().time_since_epoch().count()) return false;
  std::lock_guard<std::mutex> lk(w.timer_lock);
  const std::size_t fired = w.timers.fire_due(Clock::now(), [](const detail::TimerHeap::Entry& e) {
    e.task->timer_expired(e.task, e.tag);
  });
  w.next_deadline.store(w.timers.empty() ? INT64_MAX : w.timers.next_deadline().time_since_epoch().count(),
                        std::memory_order_release);
  return fired > 0;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  for (const auto& w : workers_) {
    s.tasks_run += w->tasks_run.load(std::memory_order_relaxed);
    s.steals += w->steals.load(std::memory_order_relaxed);
    s.parks += w->parks.load(std::memory_order_relaxed);
    s.global_polls += w->global_polls.load(std::memory_order_relaxed);
    s.parked_seconds += static_cast<double>(w->parked_ns.load(std::memory_order_relaxed)) * 1e-9;
  }
  return s;
}

std::vector<int> Scheduler::worker_affinity(std::size_t i) const {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (pthread_getaffinity_np(const_cast<std::thread&>(workers_.at(i)->thread).native_handle(), sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  return cpus;
}

const std::vector<std::vector<int>>& Scheduler::victim_groups(std::size_t i) const {
  return workers_.at(i)->victim_groups;
}

}  // namespace spindle
