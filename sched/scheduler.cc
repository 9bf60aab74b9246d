#include "spindle/sched/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "spindle/sched/fault_point.h"
#include "spindle/sched/os_thread.h"
#include "sched/worker.h"

namespace spindle {

namespace detail {
constinit thread_local void* tls_worker = nullptr;
}  // namespace detail

using detail::bump;
using detail::kSpawnCredit;
using detail::tls_worker;

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
    if (!w->cpus.empty()) detail::pin_thread(w->thread, w->cpus);
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
  return detail::thread_affinity(const_cast<std::thread&>(workers_.at(i)->thread));
}

const std::vector<std::vector<int>>& Scheduler::victim_groups(std::size_t i) const {
  return workers_.at(i)->victim_groups;
}

}  // namespace spindle
