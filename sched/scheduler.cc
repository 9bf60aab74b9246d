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

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  for (const auto& w : workers_) {
    s.tasks_run += w->tasks_run.load(std::memory_order_relaxed);
    s.steals += w->steals.load(std::memory_order_relaxed);
    s.parks += w->parks.load(std::memory_order_relaxed);
    s.global_polls += w->global_polls.load(std::memory_order_relaxed);
    s.parked_seconds += static_cast<double>(w->parked_ns.load(std::memory_order_relaxed)) * 1e-9;
  }
  s.paced_wakes = paced_wakes_.load(std::memory_order_relaxed);
  s.paced_misses = paced_misses_.load(std::memory_order_relaxed);
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
