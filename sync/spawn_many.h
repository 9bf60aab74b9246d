// spawn_many: a burst of jobs started at once and joined together — a game loop's
// frame of jobs, a parallel loop's iterations.
//
//   auto jobs = spindle::spawn_many(sched, islands.size(), [&](std::size_t i) { step(islands[i]); });
//   render_previous_frame();   // the jobs run meanwhile
//   jobs.join();               // all have finished; rethrows the first exception
//
// How the jobs run. The n jobs are indices handed out by one atomic counter. A few
// fibers — one fewer than the machine has hardware threads (at least one, at most
// n), since the caller is running on one and joins in — are submitted in one call
// (Executor::submit_batch: from a plain thread a Scheduler takes its global
// queue's lock once and wakes as many parked workers as the burst can use; from a
// fiber of the same Scheduler they go to that worker's queue, where idle workers
// steal them). Each fiber claims an index, runs the job, and claims the next until
// none is left. join() claims and runs jobs on the calling thread or fiber itself
// (as TBB's task_group::wait does) until none is left, so a game loop's main
// thread works while the workers wake up (tens of microseconds on a VM, see
// bench/wake_latency) instead of waiting for them — at a steady frame rate one
// is awake already (SchedulerOptions::anticipate_bursts learns the pace of
// these batch submissions) — and at the end waits for the
// last jobs only — about a job's length, which it spends awake rather than paying
// for a sleep and a wake-up. The caller and the fibers together are as many
// threads as the machine has, so none of them takes another's CPU. A frame of n
// jobs costs a handful of fibers, not n. (So a caller that sleeps rather than
// computes between spawn_many and join() — blocked on a Channel of the jobs'
// results, say — leaves one hardware thread unused until it joins: on a 2-core
// machine the jobs then run on one worker. Call join() first, or spawn one fiber
// per job with spawn() and a WaitGroup.)
//
// Jobs may block. A batch fiber whose job parks (on a Mutex, a Channel, a Barrier
// among the jobs...) while jobs are still unclaimed and no other fiber of the batch
// is free to take them starts one more fiber first, so an unclaimed job always has
// a fiber that can take it: n jobs that wait for each other (a Barrier of n)
// finish, as they would with a fiber each. That spare is queued on the parking
// fiber's worker without waking another (Placement::kSpare), and the worker runs
// it next; jobs that never block cost no spare.
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

  // Runs jobs not yet claimed on the calling thread or fiber until none is left
  // (see the top of this file), then blocks (the fiber parked, a plain thread
  // asleep after a short active wait) until every job has returned or thrown;
  // then rethrows the first exception a job threw (by the time order of the
  // throws; the others are dropped). Throws std::logic_error if called twice.
  void join() {
    if (joined_) throw std::logic_error("spindle::BatchHandle::join: already joined");
    // The caller is one of the batch's threads (start() left a hardware thread
    // for it): it takes jobs until none is left.
    for (std::size_t i; (i = state_->claim()) < state_->n;) state_->run_job(i);
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
    // Fibers that exist and are not inside a job (not started yet, or between
    // jobs). Only the order of the RMWs on it matters (see on_park), so relaxed.
    std::atomic<std::size_t> idle_fibers{0};
    std::atomic<std::size_t> refs{1};  // the handle + one per fiber not yet ended
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

    // A batch fiber's job is about to park (Fiber::set_park_hook, inside the
    // fiber). If no fiber of the batch is free and jobs are still unclaimed, it
    // starts a spare first. Then the batch never has every fiber parked in a job
    // with jobs left over: take the park whose read of idle_fibers comes last in
    // its modification order; it reads with an RMW, so it sees every fiber's
    // entry into its job (each came before that fiber's own park), and a fiber
    // leaving a job adds itself back before it claims again. Reading next
    // relaxed can only see too few claims, which costs a spare too many.
    static void on_park(void* self) {
      State& s = *static_cast<State*>(self);
      if (s.idle_fibers.fetch_add(0, std::memory_order_relaxed) == 0 &&
          s.next.load(std::memory_order_relaxed) < s.n) {
        try {
          s.executor.submit(s.make_fiber(), Placement::kSpare);
        } catch (...) {
          s.record(std::current_exception());  // e.g. no memory for a stack: say so at join()
        }
      }
    }

    // One fiber's loop: claim, run, until no job is left.
    void fiber_body() {
      struct Unref {
        State* s;
        ~Unref() { s->unref(); }
      } unref_at_end{this};
      detail::Fiber* self = detail::current_fiber();
      struct ParkHook {  // cleared before the unref: the state may go with it
        detail::Fiber* f;
        ~ParkHook() { f->set_park_hook(nullptr, nullptr); }
      } hook{self};
      self->set_park_hook(&State::on_park, this);
      for (std::size_t i; (i = claim()) < n;) {
        idle_fibers.fetch_sub(1, std::memory_order_relaxed);  // inside a job
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
    // One fiber per hardware thread but the caller's (at least one, at most n);
    // the joiner and on_park() cover the rest.
    // (hardware_concurrency() reads a file in glibc: once per process.)
    static const std::size_t hardware_threads = std::max(1u, std::thread::hardware_concurrency());
    const std::size_t want = std::min(n, std::max<std::size_t>(1, hardware_threads - 1));
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
