// What a worker does at each scheduling tick: find work (runnext, its queue, the
// global queue, timers, stealing), park when there is none, and the hand-off seam
// through which a fiber passes the worker straight to the next fiber.
#include <algorithm>
#include <optional>
#include <utility>

#include "spindle/sched/fault_point.h"
#include "spindle/sched/os_thread.h"
#include "sched/worker.h"

namespace spindle {

using detail::bump;
using detail::kGlobalPollInterval;
using detail::kRunnextStreakLimit;
using detail::kStealRounds;
using detail::next_random;
using detail::tls_worker;

void Scheduler::worker_main(Worker& w) {
  tls_worker = &w;
  set_current(this);
  detail::set_current_thread_name(options_.name + "/" + std::to_string(w.index));
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

}  // namespace spindle
