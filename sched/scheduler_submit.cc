// Scheduler's submission side (sched/scheduler.h): tasks from workers go to their
// local queue or runnext, tasks from plain threads to the global queue; and the
// waking of parked workers that goes with it (Go's wakep / resetspinning).
#include <algorithm>
#include <mutex>
#include <utility>

#include "spindle/sched/fault_point.h"
#include "spindle/sched/os_thread.h"
#include "spindle/sched/scheduler.h"
#include "sched/worker.h"

namespace spindle {

void Scheduler::submit(Task* task, Placement placement) {
  if (Worker* w = current_worker()) {
    push_local(*w, task, placement);
    return;
  }
  detail::ForeignCall call(foreign_calls_);  // until we stop touching *this
  {
    std::lock_guard<std::mutex> lk(lock_);
    global_.push_back(task);
    // seq_cst: before wake_idle_worker's seq_cst reads (Dekker with stop_spinning).
    global_size_.store(global_.size(), std::memory_order_seq_cst);
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
  // sees the tasks. Spinning workers take some of the burst without a wake: wake
  // that many fewer. A spinner that stops spinning meanwhile sees the tasks: its
  // seq_cst decrement of spinning_ comes before its seq_cst read of global_size_
  // (stop_spinning), our seq_cst store of global_size_ before our read of
  // spinning_ (Dekker), and one parking re-checks global_ under lock_. At most
  // kMaxBurstWake here; a woken worker that finds more work than it takes wakes
  // the next (stop_spinning), so larger pools still ramp up. (A buffer on
  // the stack, not a thread_local vector: under mingw's emulated TLS a
  // thread_local's destructor runs on freed memory, see sched/os_thread.h.)
  constexpr std::size_t kMaxBurstWake = 64;
  Worker* woken[kMaxBurstWake];
  std::size_t k;
  std::size_t spinners;
  {
    std::lock_guard<std::mutex> lk(lock_);
    global_.push_back_chain(first, last, n);
    global_size_.store(global_.size(), std::memory_order_seq_cst);
    note_outside_submission_locked();
    spinners = static_cast<std::size_t>(std::max(0, spinning_.load(std::memory_order_seq_cst)));
    k = n > spinners ? take_idle_workers_locked(std::min(n - spinners, kMaxBurstWake), woken) : 0;
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
  // Nobody was parked and nobody spun: the workers are busy, and one reaches the
  // global queue at its next scheduling point at the latest (its local queue
  // empty, or the fairness poll), as after submit(); the call covers a worker
  // that parked since. With spinners counted above, nothing more: they take the
  // tasks (or wake another when they stop, as said above). Calling it then would
  // find spinning_ already back to zero whenever a spinner had just taken the
  // burst, and wake a parked worker for nothing — a futex wake on this thread's
  // critical path, and a worker that may land on the CPU running the burst
  // (measured: bench/frame's main thread left to run all 64 jobs alone).
  if (k == 0 && spinners == 0) wake_idle_worker();
}

// A burst from a plain thread (submit_batch: a spawn_many) starts the pool's
// work if no worker is running a task: each one is parked (on idle_) or
// spinning. Single submissions do not count: a plain thread that spawns a
// frame's jobs one by one is still submitting when the first job starts, and a
// worker awake for the first one then shared the CPUs with it (bench/frame,
// spawn + WaitGroup per job, 1 ms between frames: p50 256 us without the
// anticipation, 328 us with it); and a thread that posts one task at a steady
// pace (a ticker) should not cost a worker's spinning. (A worker between the
// two, or just woken, counts as running: that burst goes unseen, the pace looks
// irregular, and nobody wakes early — the safe side.) Relaxed: lock_ orders the idle list; spinning_ may be a
// moment stale, with the same safe outcome.
void Scheduler::note_outside_submission_locked() {
  if (!options_.anticipate_bursts || workers_.size() == 1) return;
  const auto spinners = static_cast<std::size_t>(std::max(0, spinning_.load(std::memory_order_relaxed)));
  if (idle_.size() + spinners < workers_.size()) return;
  const Clock::time_point now = Clock::now();
  pacer_.on_burst(now, detail::current_cpu(), Clock::time_point(Clock::duration(ran_out_at_.load(std::memory_order_relaxed))));
  last_burst_at_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
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
  // A spare wakes nobody (Placement::kSpare): this worker runs it when its
  // current task parks.
  if (was_empty && workers_.size() > 1 && placement != Placement::kSpare) {  // a lone worker has nobody to wake
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
  // wakes the next one when it finds more work than it takes (stop_spinning), so
  // wakeups ramp up with demand.
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
  // The last spinner to find work wakes another if more work is queued than it
  // takes, so that a thief comes for it: submitters woke nobody while it counted
  // in spinning_. (Go's resetspinning wakes one unconditionally; here that cost a
  // futex wake of a worker that then found nothing per I/O event at one
  // connection, and per back-to-back frame of a game loop, on its first job's
  // path.) Dekker: our seq_cst decrement comes before the reads in
  // work_for_another (the fence below); a submitter's publication (the queue push
  // then a seq_cst fence, put_runnext's exchange, or the global queue's seq_cst
  // size) comes before its seq_cst read of spinning_. Either we see its task here
  // or it saw no spinner and woke a worker itself.
  if (spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1 && idle_count_.load(std::memory_order_seq_cst) > 0) {
    // The queues' emptiness is read with acquire loads, which the C++ model does
    // not order after our RMW on spinning_ (x86 and ARMv8's LDAR do): the fence
    // makes the Dekker pairing hold by the letter (a fence before the reads).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (work_for_another(w)) wake_idle_worker();
  }
}

bool Scheduler::work_for_another(const Worker& w) const {
  if (any_queued_work()) return true;
  for (const auto& v : workers_) {
    if (v.get() != &w && v->runnext.load(std::memory_order_seq_cst) != nullptr) return true;
  }
  return false;
}

}  // namespace spindle
