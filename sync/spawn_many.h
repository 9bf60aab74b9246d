// spawn_many: a burst of jobs started at once and joined together — a game loop's
// frame of jobs, a parallel loop's iterations.
//
//   auto jobs = spindle::spawn_many(sched, islands.size(), [&](std::size_t i) { step(islands[i]); });
//   render_previous_frame();   // the jobs run meanwhile
//   jobs.join();               // all have finished; rethrows the first exception
//
// How the jobs run. The n jobs are indices handed out by one atomic counter. A few
// fibers — as many as the machine has hardware threads, at most n — are submitted
// in one call (Executor::submit_batch: from a plain thread a Scheduler takes its
// global queue's lock once and wakes as many parked workers as the burst can use;
// from a fiber of the same Scheduler they go to that worker's queue, where idle
// workers steal them). Each fiber claims an index, runs the job, and claims the next
// until none is left. join() claims and runs jobs on the calling thread or fiber
// itself (as TBB's task_group::wait does) until those first fibers have all
// started, so a game loop's main thread works while the workers wake up (tens of
// microseconds on a VM, see bench/wake_latency) instead of waiting for them, and
// does not compete with them for their CPUs once they run. A frame of n jobs costs
// a handful of fibers, not n.
//
// Jobs may block. When every fiber of a batch is inside a job (parked on a Mutex, a
// Channel, a Barrier among the jobs...) and jobs are still unclaimed, the fiber that
// entered its job last first starts one more fiber, so an unclaimed job always has a
// fiber that can take it: n jobs that wait for each other (a Barrier of n) finish,
// as they would with a fiber each.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include "spindle/fibers/fiber.h"
#include "spindle/fibers/spawn.h"
#include "spindle/sync/wait_group.h"

namespace spindle {

// The jobs of one spawn_many: join() waits for all of them. Neither copyable nor
// movable; destroying it before join() has returned is misuse and ends the program
// with a message, as for a joinable JoinHandle (the jobs may refer to the caller's
// locals).
template <class F>
class [[nodiscard]] BatchHandle {
 public:
  // Starts the jobs fn(0) ... fn(n - 1) on fibers of `executor`. Use spawn_many()
  // rather than calling this directly.
  BatchHandle(Executor& executor, std::size_t n, F fn) : state_(new State(executor, n, std::move(fn))) {
    start();
  }
  BatchHandle(const BatchHandle&) = delete;
  BatchHandle& operator=(const BatchHandle&) = delete;
  ~BatchHandle() {
    if (!joined_) {
      std::fprintf(stderr, "spindle: BatchHandle destroyed before join() (spawn_many's jobs may still refer to the caller)\n");
      std::abort();
    }
    state_->unref();
  }

  // The number of jobs, n.
  std::size_t size() const { return state_->n; }

  // Runs jobs not yet claimed on the calling thread or fiber while the batch's
  // first fibers have not all started (see the top of this file), then blocks
  // (the fiber parked, a plain thread asleep) until every job has returned or
  // thrown; then rethrows the first exception a job threw (by the time order of the
  // throws; the others are dropped). Throws std::logic_error if called twice.
  void join() {
    if (joined_) throw std::logic_error("spindle::BatchHandle::join: already joined");
    // Help only until the batch's first fibers have all started: by then the
    // workers are at it, and a thread that kept taking jobs would compete with
    // them for their CPUs and could sit preempted on a job the frame waits for.
    while (state_->started.load(std::memory_order_relaxed) < state_->first_fibers) {
      const std::size_t i = state_->claim();
      if (i >= state_->n) break;
      state_->run_job(i);
    }
    // What is left runs on the batch's fibers now, one job per fiber at most. A
    // plain thread, whose sleep and wake-up cost a futex round trip each, first
    // waits a job's length or so, yielding its CPU to a worker that may share it; a
    // fiber parks at once (cheap, and its worker runs other fibers meanwhile).
    if (detail::current_fiber() == nullptr && state_->remaining.count() > 0) {
      const auto until = std::chrono::steady_clock::now() + kJoinSpin;
      while (state_->remaining.count() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    }
    state_->remaining.wait();
    joined_ = true;
    // The WaitGroup's acquire (the done() that reached zero released every earlier
    // done()) orders the jobs' writes of error before this read.
    if (state_->error) std::rethrow_exception(std::exchange(state_->error, nullptr));
  }

 private:
  // How long join() on a plain thread waits actively for the jobs still running.
  static constexpr std::chrono::microseconds kJoinSpin{20};

  // Shared by the handle and the batch's fibers; the last of them deletes it, so a
  // fiber that finds no job left may still run after join() has returned.
  struct State {
    State(Executor& e, std::size_t jobs, F f) : executor(e), fn(std::move(f)), n(jobs) {
      remaining.add(static_cast<std::int64_t>(n));
    }

    Executor& executor;
    F fn;
    const std::size_t n;
    std::atomic<std::size_t> next{0};  // the next unclaimed job
    // Fibers that exist and are not inside a job. Only the order of the RMWs on it
    // matters (see enter_job), so relaxed.
    std::atomic<std::size_t> idle_fibers{0};
    std::atomic<std::size_t> refs{1};  // the handle + one per fiber not yet ended
    std::size_t first_fibers = 0;      // how many start() submitted
    std::atomic<std::size_t> started{0};  // fibers that have begun; relaxed, a hint for join()
    WaitGroup remaining;               // jobs not yet finished
    std::atomic<bool> failed{false};
    std::exception_ptr error;

    // Relaxed: an index carries no data; fn and n were published to the fibers by
    // their submission (release/acquire in the executor's queues).
    std::size_t claim() { return next.fetch_add(1, std::memory_order_relaxed); }

    void unref() {
      // acq_rel: every fiber's last use of the state happens before the delete.
      if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    void record(std::exception_ptr e) {
      // The first thrower keeps its exception; the acq_rel exchange orders the
      // claims, the WaitGroup orders `error` before join()'s read.
      if (!failed.exchange(true, std::memory_order_acq_rel)) error = std::move(e);
    }

    // Runs job i and counts it finished, also when it unwinds (a fiber destroyed at
    // shutdown): nobody will run it again.
    void run_job(std::size_t i) {
      struct Done {
        WaitGroup& wg;
        ~Done() { wg.done(); }
      } done{remaining};
      try {
        fn(i);
      } catch (const detail::ForcedUnwind&) {
        throw;  // the fiber is being destroyed, not failing: let it unwind
      } catch (...) {
        record(std::current_exception());
      }
    }

    // A fiber is about to run a job. If it was the last idle fiber and jobs are
    // still unclaimed, it starts another first: then, whenever every fiber is
    // inside a job, no job is unclaimed — the RMWs on idle_fibers are totally
    // ordered, the one that reaches zero sees (by coherence, after its own claim)
    // whether anything is left, and a fiber leaving a job adds itself back before
    // it claims again.
    void enter_job() {
      if (idle_fibers.fetch_sub(1, std::memory_order_relaxed) == 1 && next.load(std::memory_order_relaxed) < n) {
        try {
          executor.submit(make_fiber());
        } catch (...) {
          record(std::current_exception());  // e.g. no memory for a stack: say so at join()
        }
      }
    }

    // One fiber's loop: claim, run, until no job is left.
    void fiber_body() {
      struct Unref {
        State* s;
        ~Unref() { s->unref(); }
      } unref_at_end{this};
      started.fetch_add(1, std::memory_order_relaxed);
      for (std::size_t i; (i = claim()) < n;) {
        enter_job();
        run_job(i);
        idle_fibers.fetch_add(1, std::memory_order_relaxed);
      }
    }

    // A started, detached fiber that runs fiber_body(), counted idle and holding a
    // reference; not yet submitted.
    detail::Fiber* make_fiber() {
      struct Body {
        State* s;
        void operator()() const { s->fiber_body(); }
      };
      using P = detail::Payload<Body, void>;
      static_assert(sizeof(P) <= detail::Fiber::kInlinePayload && alignof(P) <= 16);
      // As spawn(): a throw before the fiber is complete gives back what it took.
      detail::SpawnRollback rollback(executor);
      detail::Fiber* fiber = rollback.hold(detail::Fiber::acquire(executor.fiber_stack_size()));
      P* payload = ::new (fiber->inline_payload()) P{Body{this}, std::nullopt};
      void (*destroy)(void*) = [](void* p) { static_cast<P*>(p)->~P(); };
      rollback.hold(payload, destroy);
      fiber->start(&executor, {}, &P::run, payload, destroy);
      rollback.commit();
      fiber->release();  // detached: the fiber recycles itself when it ends
      refs.fetch_add(1, std::memory_order_relaxed);  // the caller holds one already
      idle_fibers.fetch_add(1, std::memory_order_relaxed);
      return fiber;
    }
  };

  void start() {
    const std::size_t n = state_->n;
    if (n == 0) return;
    // One fiber per hardware thread (at most n) gets every worker going; the joiner
    // and enter_job() cover the rest.
    // (hardware_concurrency() reads a file in glibc: once per process.)
    static const std::size_t hardware_threads = std::max(1u, std::thread::hardware_concurrency());
    const std::size_t want = std::min(n, hardware_threads);
    Task* first = nullptr;
    Task* last = nullptr;
    std::size_t made = 0;
    try {
      for (; made < want; ++made) {
        detail::Fiber* fiber = state_->make_fiber();
        if (first == nullptr) first = fiber;
        else last->next = fiber;
        last = fiber;
      }
    } catch (...) {
      // Run the jobs (on the fibers made, and here), wait, and report the failure.
      if (made > 0) state_->executor.submit_batch(first, made);
      for (std::size_t i; (i = state_->claim()) < n;) state_->run_job(i);
      state_->remaining.wait();
      joined_ = true;
      state_->unref();  // the constructor throws: no destructor will
      throw;
    }
    state_->first_fibers = made;
    state_->executor.submit_batch(first, made);
  }

  State* state_;
  bool joined_ = false;
};

// Runs fn(0), fn(1) ... fn(n - 1) on fibers of `executor` (a Scheduler,
// ThreadPool...) and returns the handle to join them; see the top of this file for
// how. `fn` is moved (or copied) into the batch and called concurrently from
// several fibers, and from the thread or fiber that calls join(): it must be safe
// to call so. n == 0 starts nothing (join() returns at once). Callable from plain
// threads and from fibers. Throws what spawn() throws (std::logic_error after the
// executor's shutdown began, std::system_error if a stack cannot be mapped...); if
// that happens, every job has been run to completion first (on the fibers started,
// and on the calling thread), so nothing refers to the failed call any more. A
// fiber that cannot be started later (to take jobs while others block) is reported
// by join() rethrowing its exception, after every job has run.
template <class F>
BatchHandle<std::decay_t<F>> spawn_many(Executor& executor, std::size_t n, F&& fn) {
  return BatchHandle<std::decay_t<F>>(executor, n, std::forward<F>(fn));
}

}  // namespace spindle
