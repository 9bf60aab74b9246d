// The Scheduler's side of SchedulerOptions::anticipate_bursts: which worker
// wakes ahead of a predicted burst (sched/burst_pacer.h), and when its window
// ends. The worker loop (worker_loop.cc) parks until the window opens and spins
// through it; submit_batch (scheduler_submit.cc) reports the bursts.
#include <mutex>
#include <optional>

#include "spindle/sched/fault_point.h"
#include "sched/worker.h"

namespace spindle {

// Called by a worker going idle, lock_ held: if the pacer predicts a burst and no
// other worker anticipates one, this worker takes the window (Worker::pacing) and
// parks only until its start.
bool Scheduler::claim_pacing_locked(Worker& w, Clock::time_point now) {
  if (!options_.anticipate_bursts || workers_.size() == 1 || w.pacing) return w.pacing;
  const std::optional<detail::BurstPacer::Window> win =
      pacer_.window(now, Clock::time_point(Clock::duration(ran_out_at_.load(std::memory_order_relaxed))));
  if (!win) return false;
  // Pinned to the submitter's very CPU, it could only take turns with it.
  if (w.cpus.size() == 1 && w.cpus[0] == win->burst_cpu) return false;
  Worker* none = nullptr;
  // Relaxed: the role carries no data; only its holder reads or writes its fields.
  if (!anticipator_.compare_exchange_strong(none, &w, std::memory_order_relaxed)) return false;
  w.pacing = true;
  w.pace_wake = win->wake;
  w.pace_until = win->until;
  w.pace_avoid_cpu = win->burst_cpu;
  return true;
}

// A worker that ran tasks found no more: if every other one is parked or
// spinning, the pool ran out of the last burst's work now (the gap model's
// reference). Only the first such moment after a burst counts.
void Scheduler::note_ran_out(const Worker& w) {
  if (!options_.anticipate_bursts || workers_.size() == 1) return;
  const int others_busy = static_cast<int>(workers_.size()) - idle_count_.load(std::memory_order_relaxed) -
                          spinning_.load(std::memory_order_relaxed) - (w.spinning ? 0 : 1);
  if (others_busy > 0) return;
  if (ran_out_at_.load(std::memory_order_relaxed) > last_burst_at_.load(std::memory_order_relaxed)) return;
  ran_out_at_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

// The window ended: with work found (hit), or not — then the pace is forgotten
// until it is steady again, so a loop that stopped costs one window.
void Scheduler::end_pacing(Worker& w, bool hit) {
  SPINDLE_FAULT_POINT();  // a burst racing the window's end
  w.pacing = false;
  if (!hit) {
    std::lock_guard<std::mutex> lk(lock_);
    pacer_.on_miss();
    paced_misses_.fetch_add(1, std::memory_order_relaxed);
  }
  anticipator_.store(nullptr, std::memory_order_relaxed);
}

}  // namespace spindle
