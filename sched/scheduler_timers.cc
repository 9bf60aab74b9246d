// Scheduler's timers (sched/scheduler.h): each worker keeps a heap of deadlines;
// an idle worker watches the earliest deadline of all (park_idle), so a timer
// whose own worker is busy in a long task fires on time.
#include <mutex>
#include <optional>

#include "spindle/sched/scheduler.h"
#include "sched/worker.h"

namespace spindle {

void Scheduler::add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) {
  Worker* self = current_worker();
  std::optional<detail::ForeignCall> call;  // a thread outside: counted until it leaves
  if (self == nullptr) call.emplace(foreign_calls_);
  Worker& w = self != nullptr ? *self : *workers_[0];
  {
    std::lock_guard<std::mutex> lk(w.timer_lock);
    w.timers.add(task, tag, deadline);
    w.next_deadline.store(w.timers.next_deadline().time_since_epoch().count(), std::memory_order_seq_cst);
  }
  if (&w != self) unpark_worker(w);  // let it re-arm its park (or poller) timeout
  if (workers_.size() == 1) return;
  // Make sure an idle worker watches this deadline (see park_idle): unpark the
  // watcher if it would sleep past it; with no watcher, wake an idle worker, which
  // becomes one when it parks again.
  Worker* watcher = timer_watcher_.load(std::memory_order_seq_cst);
  if (watcher == nullptr) {
    if (idle_count_.load(std::memory_order_seq_cst) > 0) wake_idle_worker();
  } else if (watcher != self && deadline.time_since_epoch().count() < watch_until_.load(std::memory_order_seq_cst)) {
    unpark_worker(*watcher);
  }
}

bool Scheduler::fire_timers(Worker& w, bool try_only) {
  if (w.next_deadline.load(std::memory_order_acquire) > Clock::now().time_since_epoch().count()) return false;
  std::unique_lock<std::mutex> lk(w.timer_lock, std::defer_lock);
  if (!try_only) {
    lk.lock();
  } else if (!lk.try_lock()) {
    return false;  // its owner (or another idle worker) is at it
  }
  const std::size_t fired = w.timers.fire_due(Clock::now(), [](const detail::TimerHeap::Entry& e) {
    e.task->timer_expired(e.task, e.tag);
  });
  w.next_deadline.store(w.timers.empty() ? INT64_MAX : w.timers.next_deadline().time_since_epoch().count(),
                        std::memory_order_seq_cst);
  return fired > 0;
}

bool Scheduler::fire_others_timers(Worker& w) {
  bool fired = false;
  for (const auto& v : workers_) {
    if (v.get() != &w && v->next_deadline.load(std::memory_order_relaxed) != INT64_MAX) fired |= fire_timers(*v, true);
  }
  return fired;
}

// The watcher found work and may now be busy for long: give up the watch, and if
// timers are pending while workers idle, wake one to take it over (it parks again
// and claims the watch in park_idle).
void Scheduler::hand_over_timer_watch(Worker& w) {
  watch_until_.store(INT64_MAX, std::memory_order_seq_cst);
  timer_watcher_.store(nullptr, std::memory_order_seq_cst);
  if (idle_count_.load(std::memory_order_seq_cst) > 0 && any_timer_pending()) wake_idle_worker();
}

bool Scheduler::any_timer_pending() const {
  for (const auto& v : workers_) {
    if (v->next_deadline.load(std::memory_order_seq_cst) != INT64_MAX) return true;
  }
  return false;
}

}  // namespace spindle
