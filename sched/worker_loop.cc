// What a worker does at each scheduling tick: find work (runnext, its queue, the
// global queue, timers, stealing), park when there is none, and the hand-off seam
// through which a fiber passes the worker straight to the next fiber.
#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include "spindle/sched/fault_point.h"
#include "spindle/sched/os_thread.h"
#include "sched/worker.h"

namespace spindle {

using detail::bump;
using detail::kGlobalPollInterval;
using detail::kRunnextStreakLimit;
using detail::kRunnextStealDelay;
using detail::kStealRounds;
using detail::next_random;
using detail::tls_worker;

void Scheduler::worker_main(Worker& w) {
  tls_worker = &w;
  set_current(this);
  detail::set_current_thread_name(options_.name + "/" + std::to_string(w.index));
  wait_for_first_wake(w);
  while (Task* t = find_work(w)) {
    // A spinning worker that found work, wherever it found it, stops counting as
    // spinning (and, if it was the last one and more work is queued, wakes another
    // to take it); otherwise submitters would think someone is still looking.
    stop_spinning(w);
    if (w.pacing) [[unlikely]] end_pacing(w, true);  // work came in (or before) its window
    if (timer_watcher_.load(std::memory_order_relaxed) == &w) [[unlikely]] hand_over_timer_watch(w);
    bump(w.tasks_run);
    w.ran_since_park = true;
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
  return (tick % kGlobalPollInterval == 0 &&
          (global_size_.load(std::memory_order_relaxed) > 0 || io_waiting())) ||  // poller hook
         (w.next_deadline.load(std::memory_order_relaxed) != INT64_MAX && (tick & 15) == 0);
}

Task* Scheduler::take_for_handoff(const Executor* executor, void (*run)(Task*)) {
  auto* w = static_cast<Worker*>(tls_worker);
  if (w == nullptr || w->sched != executor) return nullptr;
  const std::uint32_t tick = w->tick.load(std::memory_order_relaxed) + 1;
  Scheduler& s = *w->sched;
  if (s.periodic_work_due(*w, tick)) return nullptr;
  Task* t = nullptr;
  if (Task* next = w->runnext.load(std::memory_order_relaxed)) {
    // At the streak limit the loop moves runnext behind queued work: leave it that.
    // (`run` never changes, so reading it races with nothing, even if a thief takes
    // `next` meanwhile.)
    if (next->run != run) return nullptr;
    if (w->runnext_streak + 1 >= kRunnextStreakLimit && !w->queue.empty()) return nullptr;
    t = s.take_runnext(*w);  // null if a thief took it meanwhile
    if (t != nullptr) ++w->runnext_streak;
  }
  if (t == nullptr) {
    t = w->queue.pop_if([run](Task* task) { return task->run == run; });
    if (t == nullptr) return nullptr;
    w->runnext_streak = 0;
  }
  w->tick.store(tick, std::memory_order_relaxed);
  bump(w->tasks_run);
  return t;
}

bool Scheduler::may_hand_off(const Executor* executor) {
  auto* w = static_cast<Worker*>(tls_worker);
  if (w == nullptr || w->sched != executor) return false;
  const std::uint32_t tick = w->tick.load(std::memory_order_relaxed) + 1;
  if (w->sched->periodic_work_due(*w, tick)) return false;
  w->tick.store(tick, std::memory_order_relaxed);
  bump(w->tasks_run);
  return true;
}

Task* Scheduler::take_runnext(Worker& w) {
  Task* t = w.runnext.load(std::memory_order_relaxed);
  if (t == nullptr) return nullptr;
  if (workers_.size() == 1) {  // no thief to race with
    w.runnext.store(nullptr, std::memory_order_relaxed);
    return t;
  }
  return w.runnext.exchange(nullptr, std::memory_order_acq_rel);  // null if stolen meanwhile
}

Task* Scheduler::put_runnext(Worker& w, Task* task) {
  if (workers_.size() == 1) {  // no thief, no idle worker to tell
    Task* old = w.runnext.load(std::memory_order_relaxed);
    w.runnext.store(task, std::memory_order_relaxed);
    return old;
  }
  // seq_cst: a full barrier before push_local reads idle_count_ (Dekker with the
  // idle worker's announcement before its re-check in go_idle).
  return w.runnext.exchange(task, std::memory_order_seq_cst);
}

// Takes victim's runnext task if the victim keeps it without reaching a scheduling
// point for kRunnextStealDelay (it is then busy in a long task, and the task would
// wait for that). Returns null once the victim itself has taken it.
Task* Scheduler::steal_runnext(Worker& victim) {
  Task* t = victim.runnext.load(std::memory_order_acquire);
  if (t == nullptr) return nullptr;
  std::uint32_t tick = victim.tick.load(std::memory_order_relaxed);
  auto since = Clock::now();
  for (;;) {
    detail::spin_pause();
    if (victim.runnext.load(std::memory_order_relaxed) != t) return nullptr;  // taken (or queued)
    const std::uint32_t now_tick = victim.tick.load(std::memory_order_relaxed);
    const auto now = Clock::now();
    if (now_tick != tick) {  // it passed a scheduling point without taking t: watch on
      tick = now_tick;
      since = now;
    } else if (now - since >= kRunnextStealDelay) {
      break;
    }
  }
  SPINDLE_FAULT_POINT();
  // Acquire pairs with the owner's exchange that stored t (put_runnext).
  if (!victim.runnext.compare_exchange_strong(t, nullptr, std::memory_order_acquire)) return nullptr;
  return t;
}

Task* Scheduler::find_work(Worker& w) {
  for (;;) {
    if (w.spawn_credit != 0 && stopping_.load(std::memory_order_relaxed)) give_back_credit(w);
    const std::uint32_t tick = w.tick.load(std::memory_order_relaxed) + 1;
    w.tick.store(tick, std::memory_order_relaxed);
    if (w.next_deadline.load(std::memory_order_relaxed) != INT64_MAX && (tick & 15) == 0) fire_timers(w);
    if (tick % kGlobalPollInterval == 0 && global_size_.load(std::memory_order_relaxed) > 0) {
      if (Task* t = take_global(w, false)) return t;
    }
    // Poller hook: busy workers poll too, or a worker that never runs dry would
    // never see ready I/O (Go's sysmon does this from a thread of its own).
    if (tick % kGlobalPollInterval == 0) poll_io(w, false);
    if (w.runnext.load(std::memory_order_relaxed) != nullptr) {
      // Past the streak limit runnext yields its turn to the queue, if anything is
      // queued there to be starved.
      if (++w.runnext_streak < kRunnextStreakLimit || w.queue.empty()) {
        if (Task* t = take_runnext(w)) return t;
      } else if (Task* t = take_runnext(w)) {
        push_local(w, t, Placement::kBack);
      }
    }
    w.runnext_streak = 0;
    if (Task* t = w.queue.pop()) return t;
    if (global_size_.load(std::memory_order_relaxed) > 0) {
      if (Task* t = take_global(w, true)) return t;
    }
    if (fire_timers(w)) continue;
    // Timers of workers busy in a long task are due here too (Go's checkTimers in
    // stealWork): an idle worker fires them and runs what they wake.
    if (fire_others_timers(w)) continue;
    if (poll_io(w, true)) continue;  // poller hook: ready I/O before stealing (sched/poller.h)

    // Steal, spinning, only while fewer than half the workers spin. The last round
    // also takes runnext tasks that their busy owners do not get to.
    const int busy = static_cast<int>(workers_.size()) - idle_count_.load(std::memory_order_relaxed);
    if (w.spinning || w.pacing || 2 * spinning_.load(std::memory_order_relaxed) < busy) {
      if (!w.spinning) {
        w.spinning = true;
        spinning_.fetch_add(1, std::memory_order_seq_cst);
      }
      for (int round = 0; round < kStealRounds; ++round) {
        if (Task* t = steal(w, round == kStealRounds - 1)) {
          stop_spinning(w);
          return t;
        }
      }
      if (Task* t = spin_for_work(w)) return t;
    }

    bool exit = false;
    if (Task* t = go_idle(w, exit)) return t;
    if (exit) return nullptr;
  }
}

// Bounded spinning before parking (SchedulerOptions::spin_before_park): while this
// worker counts in spinning_, submitters wake nobody, so work that arrives within
// the window is picked up without a futex wake on either side.
// A worker that woke ahead of a predicted burst (anticipate_bursts, Worker::pacing)
// spins here too, until its window ends.
Task* Scheduler::spin_for_work(Worker& w) {
  // Only after running something (Worker::ran_since_park): a worker woken for a
  // single task that another worker took would otherwise spin beside it, on its
  // CPU if unpinned, and delay it by the whole window.
  if (w.ran_since_park) note_ran_out(w);
  const bool after_run = options_.spin_before_park.count() > 0 && workers_.size() > 1 && w.ran_since_park;
  if (!after_run && !w.pacing) return nullptr;
  auto until = Clock::now();
  if (after_run) until += options_.spin_before_park;
  if (w.pacing) {
    until = std::max(until, w.pace_until);
    // Spin where the burst's submitter is not (sched/burst_pacer.h).
    if (detail::current_cpu() == w.pace_avoid_cpu) detail::move_off_cpu(w.pace_avoid_cpu);
  }
  if (w.pacing) SPINDLE_FAULT_POINT();  // a window opening late, or a burst racing its start
  Task* found = spin_until(w, until);
  if (w.pacing && found == nullptr) end_pacing(w, false);  // a hit ends in worker_main
  return found;
}

Task* Scheduler::spin_until(Worker& w, Clock::time_point until) {
  do {
    // Yield rather than only pause: the thread waiting for this work's results (a
    // game loop's main thread, woken by the last job) may be runnable on this very
    // CPU, and with as many workers as CPUs it would otherwise wait for the whole
    // window. With nothing else runnable the yield returns at once.
    std::this_thread::yield();
    if (global_size_.load(std::memory_order_relaxed) > 0) {
      if (Task* t = take_global(w, true)) return t;
    }
    if (Task* t = steal(w, false)) return t;
    // Ready I/O (poller hook) and due timers ready fibers on this worker: into its
    // runnext first, then its queue. Take them from there, never park over them.
    if (poll_io(w, true) | fire_timers(w) | fire_others_timers(w)) {
      Task* t = take_runnext(w);
      if (t == nullptr) t = w.queue.pop();
      if (t != nullptr) {
        stop_spinning(w);  // wakes another only if more is queued than it takes
        return t;
      }
    }
  } while (!stopping_.load(std::memory_order_relaxed) && Clock::now() < until);
  return nullptr;
}

Task* Scheduler::go_idle(Worker& w, bool& exit) {
  // Nothing found: announce idleness, re-check everything, then park.
  SPINDLE_FAULT_POINT();
  {
    std::unique_lock<std::mutex> lk(lock_);
    if (shutdown_.load(std::memory_order_acquire) && global_.empty() && w.queue.empty()) {
      lk.unlock();
      stop_spinning(w);
      exit = true;
      return nullptr;
    }
    if (!global_.empty()) {
      Task* t = global_.pop_front();
      global_size_.store(global_.size(), std::memory_order_relaxed);
      lk.unlock();
      stop_spinning(w);
      return t;
    }
    if (w.ran_since_park) note_ran_out(w);  // (spin_before_park zero: not noted while spinning)
    // A burst is due before this worker would wake anyway: spin for it now (back
    // in find_work, which spins while Worker::pacing) rather than park.
    if (claim_pacing_locked(w, Clock::now()) && w.pace_wake <= Clock::now()) return nullptr;
    w.idle = true;
    w.woken_spinning = false;
    idle_.push_back(w.index);
    idle_count_.fetch_add(1, std::memory_order_seq_cst);
  }
  if (w.spinning) {
    w.spinning = false;
    spinning_.fetch_sub(1, std::memory_order_seq_cst);
  }
  // Dekker with push_local (its fence, or put_runnext's exchange): we announced
  // idleness (seq_cst) before looking at the queues and runnext slots, it published
  // its task before looking for idlers. Either we see the task or it sees us idle
  // and wakes us (the unpark leaves a permit, so a park after it returns at once).
  SPINDLE_FAULT_POINT();  // between announcing idleness and the re-check
  // The re-check reads the queues with acquire loads, which the C++ model does not
  // order after the seq_cst RMW above (x86 and ARMv8's LDAR do): the fence makes
  // the pairing hold by the letter. A park is far dearer than the fence.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  Task* found = nullptr;
  if (!any_queued_work()) {
    // A runnext task is work only if its owner is stuck: steal_runnext watches it
    // until the owner takes it or keeps it too long.
    for (const auto& v : workers_) {
      if (v.get() != &w && (found = steal_runnext(*v)) != nullptr) break;
    }
    if (found == nullptr) park_idle(w);
  }
  std::lock_guard<std::mutex> lk(lock_);
  if (w.pacing) {
    const auto now = Clock::now();
    if (found != nullptr || now < w.pace_wake) {
      // Woken early (by the burst itself, or a timer), or never parked: this
      // window is over without a spin; the next park claims one afresh.
      w.pacing = false;
      anticipator_.store(nullptr, std::memory_order_relaxed);
    } else {
      if (w.idle) pacer_.on_wake(w.pace_wake, now);  // the timed wake: learn its lateness
      paced_wakes_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (w.idle) {  // timed out, re-checked, or spurious: leave the idle list ourselves
    idle_.erase(std::find(idle_.begin(), idle_.end(), w.index));
    idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    w.idle = false;
  } else if (w.woken_spinning) {  // wake_idle_worker counted us as spinning
    w.woken_spinning = false;
    w.spinning = true;
  }
  return found;
}

// The one place an idle worker blocks. With several workers, one idle worker at a
// time also watches every other worker's timers: it parks until the earliest
// deadline of all, so a timer whose own worker is busy fires on time (find_work's
// fire_others_timers) instead of when that worker comes back.
void Scheduler::park_idle(Worker& w) {
  std::int64_t d = w.next_deadline.load(std::memory_order_acquire);
  Worker* none = nullptr;
  if (workers_.size() > 1 && (timer_watcher_.load(std::memory_order_relaxed) == &w ||
                              timer_watcher_.compare_exchange_strong(none, &w, std::memory_order_seq_cst))) {
    // Publish "computing" (INT64_MAX: every add_timer unparks us), then read every
    // deadline: an add_timer that stored its deadline after our read sees us as the
    // watcher and compares against what we publish next.
    watch_until_.store(INT64_MAX, std::memory_order_seq_cst);
    for (const auto& v : workers_) d = std::min(d, v->next_deadline.load(std::memory_order_seq_cst));
    watch_until_.store(d, std::memory_order_seq_cst);
  }
  bump(w.parks);
  std::optional<Clock::time_point> deadline;
  if (d != INT64_MAX) deadline = Clock::time_point(Clock::duration(d));
  if (w.pacing && (!deadline || w.pace_wake < *deadline)) deadline = w.pace_wake;  // anticipate_bursts
  const auto parked_at = Clock::now();
  w.ran_since_park = false;
  if (!wait_in_poller(w, deadline)) w.parker.park(deadline);  // poller hook
  const auto slept = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - parked_at).count();
  w.parked_ns.store(w.parked_ns.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(slept),
                    std::memory_order_relaxed);
}

// --- poller hooks (sched/poller.h) ----------------------------------------------------

bool Scheduler::io_waiting() const {
  Poller* p = poller_.load(std::memory_order_acquire);
  return p != nullptr && p->has_waiters();
}

// run_first: the worker has no local work and runs what it readies next; the
// first readied fiber then goes to its runnext without waking another worker
// (push_local), as after a blocking wait.
bool Scheduler::poll_io(Worker& w, bool run_first) {
  Poller* p = poller_.load(std::memory_order_acquire);
  if (p == nullptr || !p->has_waiters()) return false;
  // A worker blocked in the poller gets the events anyway (Go skips netpoll(0)
  // while another M blocks in netpoll, for the same reason): save the syscall.
  if (poller_blocked_.load(std::memory_order_relaxed)) return false;
  w.polling_idle = run_first;
  const bool any = p->poll() > 0;  // readied fibers were submitted to this worker's queue
  w.polling_idle = false;
  return any;
}

// The worker going idle blocks in the poller if it has waiters and no other
// worker is blocked there (Go's findrunnable: one M in netpoll at a time).
// Handshake with unpark_worker (Dekker through the two fences): either we see
// the unparker's permit and do not block, or it sees in_poller and interrupts.
bool Scheduler::wait_in_poller(Worker& w, std::optional<Clock::time_point> deadline) {
  Poller* p = poller_.load(std::memory_order_acquire);
  if (p == nullptr || !p->has_waiters()) return false;
  bool expected = false;
  if (!poller_blocked_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return false;
  w.in_poller.store(true, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!w.parker.permit_pending()) p->wait(deadline);
  w.in_poller.store(false, std::memory_order_relaxed);
  poller_blocked_.store(false, std::memory_order_release);
  w.parker.consume();  // we are awake and about to look for work anyway
  return true;
}

void Scheduler::unpark_worker(Worker& w) {
  w.parker.unpark();
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with wait_in_poller's fence
  if (w.in_poller.load(std::memory_order_relaxed)) poller_.load(std::memory_order_acquire)->interrupt();
}

bool Scheduler::any_queued_work() const {
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

Task* Scheduler::steal(Worker& w, bool with_runnext) {
  SPINDLE_FAULT_POINT();
  for (const auto& group : w.victim_groups) {
    // Random start and direction within the group, so thieves spread out.
    const std::size_t n = group.size();
    const std::size_t start = next_random(w.rng) % n;
    for (std::size_t k = 0; k < n; ++k) {
      Worker& victim = *workers_[static_cast<std::size_t>(group[(start + k) % n])];
      if (&victim == &w) continue;  // the group is shared by the workers of w's core
      Task* t = victim.queue.steal_into(w.queue);
      if (t == nullptr && with_runnext) t = steal_runnext(victim);
      if (t != nullptr) {
        bump(w.steals);
        return t;
      }
    }
  }
  return nullptr;
}

}  // namespace spindle
