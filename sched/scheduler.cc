#include "spindle/sched/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
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

SchedulerOptions Scheduler::validated(SchedulerOptions options) {
  const std::string who = "spindle::Scheduler '" + options.name + "': ";
  if (options.workers > SchedulerOptions::kMaxWorkers) {
    throw std::invalid_argument(who + "workers = " + std::to_string(options.workers) + " is above the limit of " +
                                std::to_string(SchedulerOptions::kMaxWorkers) + " (SchedulerOptions::kMaxWorkers)");
  }
  if (options.stack_size > SchedulerOptions::kMaxStackSize) {
    throw std::invalid_argument(who + "stack_size = " + std::to_string(options.stack_size) +
                                " bytes is above the limit of " + std::to_string(SchedulerOptions::kMaxStackSize) +
                                " (SchedulerOptions::kMaxStackSize)");
  }
  if (options.topology && options.topology->cores().empty()) {
    throw std::invalid_argument(who + "the topology has no cores");
  }
  return options;
}

Scheduler::Scheduler(SchedulerOptions options)
    : options_(validated(std::move(options))),
      topology_(options_.topology ? *options_.topology : Topology::detect()) {
  if (options_.on_unhandled_exception) {
    unhandled_exception_handler_ = std::make_shared<const UnhandledExceptionHandler>(options_.on_unhandled_exception);
  }
  std::size_t n = options_.workers;
  if (n == 0) {
    n = options_.pinning == Pinning::kCores          ? topology_.cores().size()
        : options_.pinning == Pinning::kHyperthreads ? static_cast<std::size_t>(topology_.pu_count())
                                                     : std::max(1u, std::thread::hardware_concurrency());
    n = std::clamp<std::size_t>(n, 1, SchedulerOptions::kMaxWorkers);
  }
  place_workers(n);
  start_workers();
}

// Places worker i on a core (for stealing distance) and on the CPUs it is pinned
// to, and gives it the victim groups of its core. Time and memory: workers x cores
// used, so linear in the workers (no per-worker list of every other worker).
void Scheduler::place_workers(std::size_t n) {
  const auto& cores = topology_.cores();
  std::vector<int> core_of(n);
  workers_.reserve(n);
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
  // Victims grouped by topological distance, nearest first, once per core used.
  std::vector<int> slot_of_core(cores.size(), -1);
  for (std::size_t i = 0; i < n; ++i) {
    int& slot = slot_of_core[static_cast<std::size_t>(core_of[i])];
    if (slot < 0) {
      slot = static_cast<int>(victims_by_core_.size());
      std::vector<std::vector<int>> groups(4);
      for (std::size_t j = 0; j < n; ++j) {
        groups[static_cast<std::size_t>(topology_.distance(core_of[i], core_of[j]))].push_back(static_cast<int>(j));
      }
      std::erase_if(groups, [](const std::vector<int>& g) { return g.empty(); });
      victims_by_core_.push_back(std::move(groups));
    }
  }
  // victims_by_core_ no longer grows: spans into it stay valid.
  for (std::size_t i = 0; i < n; ++i) {
    workers_[i]->victim_groups = victims_by_core_[static_cast<std::size_t>(slot_of_core[static_cast<std::size_t>(core_of[i])])];
  }
  // Workers start asleep on the idle list, reversed so that the first wake picks
  // worker 0; a submission wakes them as usual (wake_idle_worker).
  for (std::size_t i = n; i-- > 0;) {
    workers_[i]->idle = true;
    idle_.push_back(static_cast<int>(i));
  }
  idle_count_.store(static_cast<int>(n), std::memory_order_relaxed);
}

void Scheduler::start_workers() {
  std::size_t started = 0;
  auto stop_started = [&] {
    {
      std::lock_guard<std::mutex> lk(lock_);
      stopping_.store(true, std::memory_order_seq_cst);
      shutdown_.store(true, std::memory_order_seq_cst);
    }
    for (std::size_t i = 0; i < started; ++i) workers_[i]->parker.unpark();
    for (std::size_t i = 0; i < started; ++i) workers_[i]->thread.join();
  };
  try {
    for (; started < workers_.size(); ++started) {
      Worker& w = *workers_[started];
      w.thread = std::thread([this, wp = &w] { worker_main(*wp); });
      // Pinned here rather than by the worker itself, so the placement holds by
      // the time the constructor returns.
      if (!w.cpus.empty()) detail::pin_thread(w.thread, w.cpus);
    }
  } catch (const std::system_error& e) {
    stop_started();
    throw std::system_error(e.code(), "spindle::Scheduler '" + options_.name + "': cannot start worker " +
                                          std::to_string(started) + " of " + std::to_string(workers_.size()));
  } catch (...) {
    stop_started();
    throw;
  }
}

// A new worker sleeps until a submission (wake_idle_worker), a timer (add_timer)
// or shutdown wakes it, instead of scanning every other worker for work: that is
// what kept construction quadratic in the worker count. Leaving the idle list is
// the same as at the end of find_work's park.
void Scheduler::wait_for_first_wake(Worker& w) {
  bump(w.parks);
  const auto parked_at = Clock::now();
  w.parker.park();
  w.parked_ns.store(static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - parked_at).count()),
                    std::memory_order_relaxed);
  std::lock_guard<std::mutex> lk(lock_);
  if (w.idle) {  // woken by shutdown, a timer, or spuriously: leave the idle list ourselves
    idle_.erase(std::find(idle_.begin(), idle_.end(), w.index));
    idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    w.idle = false;
  } else if (w.woken_spinning) {  // wake_idle_worker counted us as spinning
    w.woken_spinning = false;
    w.spinning = true;
  }
}

Scheduler::~Scheduler() {
  stopping_.store(true, std::memory_order_seq_cst);
  // Workers hand back their spawn credit when they see stopping_: wake them all so
  // that parked ones do too.
  for (auto& w : workers_) unpark_worker(*w);
  {
    std::unique_lock<std::mutex> lk(lock_);
    while (outstanding_.load(std::memory_order_acquire) > 0) {
      if (!drained_.wait_for(lk, std::chrono::seconds(5), [&] { return outstanding_.load() <= 0; })) {
        std::fprintf(stderr, "spindle: Scheduler '%s' is being destroyed and still waits for %lld fiber(s)\n",
                     name(), static_cast<long long>(outstanding_.load()));
        if (Poller* p = poller()) {
          std::string waiters;
          p->describe_waiters(waiters);
          if (!waiters.empty()) std::fprintf(stderr, "spindle: blocked in I/O:\n%s", waiters.c_str());
        }
      }
    }
    shutdown_.store(true, std::memory_order_seq_cst);
  }
  for (auto& w : workers_) unpark_worker(*w);
  for (auto& w : workers_) w->thread.join();
  // A foreign thread whose submit readied the last fibers may still be waking a
  // worker. Its ForeignCall was counted before its task became runnable, so before
  // that task finished and before our acquire load of outstanding_ above saw the
  // work drained: this load sees the count, or its release decrement, which then
  // orders all its touches of *this before the members are destroyed.
  while (foreign_calls_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

Poller* Scheduler::install_poller(std::unique_ptr<Poller> poller) {
  std::lock_guard<std::mutex> lk(lock_);
  if (Poller* p = poller_.load(std::memory_order_relaxed)) return p;
  poller_owner_ = std::move(poller);
  // Release pairs with the workers' acquire loads: they see a constructed poller.
  poller_.store(poller_owner_.get(), std::memory_order_release);
  return poller_owner_.get();
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
  detail::ForeignCall call(foreign_calls_);  // until we stop touching *this
  {
    std::lock_guard<std::mutex> lk(lock_);
    global_.push_back(task);
    global_size_.store(global_.size(), std::memory_order_relaxed);
  }
  wake_idle_worker();
}

void Scheduler::submit_batch(Task* first, std::size_t n) {
  if (n == 0) return;
  if (Worker* w = current_worker()) {
    for (Task* t = first; n > 0; --n) {
      Task* next = t->next;  // read first: once queued, the queue owns `next`
      push_local(*w, t, Placement::kBack);
      t = next;
    }
    return;
  }
  detail::ForeignCall call(foreign_calls_);  // until we stop touching *this
  Task* last = first;
  for (std::size_t i = 1; i < n; ++i) last = last->next;
  // Wake as many parked workers as the burst can use, chosen under the same lock
  // that publishes the tasks: a worker going idle takes lock_ to join idle_ and
  // re-checks global_ under it, so either it is on idle_ here (and woken) or it
  // sees the tasks. At most kMaxBurstWake here; a woken worker that finds work
  // wakes the next (stop_spinning), so larger pools still ramp up. (A buffer on
  // the stack, not a thread_local vector: under mingw's emulated TLS a
  // thread_local's destructor runs on freed memory, see sched/os_thread.h.)
  constexpr std::size_t kMaxBurstWake = 64;
  Worker* woken[kMaxBurstWake];
  std::size_t k;
  {
    std::lock_guard<std::mutex> lk(lock_);
    global_.push_back_chain(first, last, n);
    global_size_.store(global_.size(), std::memory_order_relaxed);
    k = take_idle_workers_locked(std::min(n, kMaxBurstWake), woken);
  }
  // A worker pinned to the CPU this thread runs on would, once woken, preempt us
  // (the kernel favours the wakee) before we wake the others: wake it last.
  if (k > 1) {
    const int cpu = detail::current_cpu();
    for (std::size_t i = 0; i + 1 < k; ++i) {
      if (woken[i]->cpus.size() == 1 && woken[i]->cpus[0] == cpu) {
        std::swap(woken[i], woken[k - 1]);
        break;
      }
    }
  }
  for (std::size_t i = 0; i < k; ++i) unpark_worker(*woken[i]);
  // Nobody was parked: the workers are busy or spinning, and spinners poll
  // global_size_. If none spins, one busy worker reaches the global queue at its
  // next scheduling point at the latest (its local queue empty, or the fairness
  // poll), as after submit().
  if (k == 0) wake_idle_worker();
}

std::size_t Scheduler::take_idle_workers_locked(std::size_t n, Worker** out) {
  std::size_t k = 0;
  while (k < n && !idle_.empty()) {
    Worker* target = workers_[static_cast<std::size_t>(idle_.back())].get();
    idle_.pop_back();
    idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    target->idle = false;
    target->woken_spinning = false;  // it looks at the global queue first, not spinning
    out[k++] = target;
  }
  return k;
}

void Scheduler::push_local(Worker& w, Task* task, Placement placement) {
  if (w.polling_idle || w.in_poller.load(std::memory_order_relaxed)) [[unlikely]] {
    // Readied by this worker's own poll while it has no local work (poll_io with
    // run_first), or by its own blocking poller wait (wait_in_poller; only this
    // thread writes either flag). The worker is about to look for work, so it runs
    // the first readied fiber itself, without waking anyone (after a wait it
    // leaves the idle list first); the fibers readied after it go to the queue
    // below and wake an idle worker as usual (Go's findrunnable runs the first
    // goroutine netpoll returned and injects the rest). Waking another worker for
    // the first one cost a futex wake per I/O event at low connection counts.
    if (w.in_poller.load(std::memory_order_relaxed)) leave_idle(w);
    if (w.runnext.load(std::memory_order_relaxed) == nullptr) {
      // Release pairs with a thief's acquire load in steal_runnext.
      w.runnext.store(task, std::memory_order_release);
      return;
    }
  }
  if (placement == Placement::kNext) {
    task = put_runnext(w, task);  // the old runnext goes to the queue
    // The task waits for this worker's next scheduling point, which a long task
    // may delay: an idle worker, if any, comes to steal it (steal_runnext), as Go's
    // ready() calls wakep(). put_runnext's exchange is the Dekker barrier.
    if (workers_.size() > 1) wake_if_idle();
    if (task == nullptr) return;
  }
  const bool was_empty = w.queue.empty();
  if (was_empty && w.runnext.load(std::memory_order_relaxed) == nullptr && nobody_would_steal()) {
    // First or last in line, it is next in line all the same: runnext is that
    // place, and taking a task from runnext costs no atomic read-modify-write (the
    // ring's pop does). Only while every other worker is busy: an idle or spinning
    // one would want to steal it. A yield ping-pong between two fibers, or a fiber
    // spawning and joining children one at a time, thus runs without atomics.
    w.runnext.store(task, std::memory_order_release);
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
    wake_if_idle();
  }
}

void Scheduler::leave_idle(Worker& w) {
  std::lock_guard<std::mutex> lk(lock_);
  if (!w.idle) return;  // already taken off the list by a waker (wake_idle_worker)
  idle_.erase(std::find(idle_.begin(), idle_.end(), w.index));
  idle_count_.fetch_sub(1, std::memory_order_seq_cst);
  w.idle = false;
}

void Scheduler::wake_if_idle() {
  if (idle_count_.load(std::memory_order_relaxed) > 0 && spinning_.load(std::memory_order_relaxed) == 0) {
    wake_idle_worker();
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
  unpark_worker(*target);
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

std::vector<std::vector<int>> Scheduler::victim_groups(std::size_t i) const {
  const Worker& w = *workers_.at(i);
  std::vector<std::vector<int>> groups;
  for (const auto& g : w.victim_groups) {
    std::vector<int> others;
    std::copy_if(g.begin(), g.end(), std::back_inserter(others), [&](int v) { return v != w.index; });
    if (!others.empty()) groups.push_back(std::move(others));
  }
  return groups;
}

}  // namespace spindle
