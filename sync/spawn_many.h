// spawn_many: a burst of fibers started at once and joined together — a game
// loop's frame of jobs, a parallel loop's chunks.
//
//   auto jobs = spindle::spawn_many(sched, islands.size(), [&](std::size_t i) { step(islands[i]); });
//   render_previous_frame();   // the jobs run meanwhile
//   jobs.join();               // all have finished; rethrows the first exception
//
// Against n calls of spawn(...).detach() and a WaitGroup, a burst submits its n
// fibers to the executor in one call (Executor::submit_batch): from a plain thread
// a Scheduler takes its global queue's lock once, not n times, and wakes as many
// parked workers as the burst can use at once. From a fiber of the same Scheduler
// the fibers go to that worker's queue, where idle workers steal them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "spindle/fibers/fiber.h"
#include "spindle/fibers/spawn.h"
#include "spindle/sync/wait_group.h"

namespace spindle {

// The fibers of one spawn_many: join() waits for all of them. Neither copyable
// nor movable (the fibers refer to it); destroying it before join() has returned
// is misuse and ends the program with a message, as for a joinable JoinHandle.
template <class F>
class [[nodiscard]] BatchHandle {
 public:
  // Starts fn(0) ... fn(n - 1), each on its own fiber of `executor`. Use
  // spawn_many() rather than calling this directly.
  BatchHandle(Executor& executor, std::size_t n, F fn) : fn_(std::move(fn)) { start(executor, n); }
  BatchHandle(const BatchHandle&) = delete;
  BatchHandle& operator=(const BatchHandle&) = delete;
  ~BatchHandle() {
    if (!joined_) {
      std::fprintf(stderr, "spindle: BatchHandle destroyed before join() (spawn_many's fibers still refer to it)\n");
      std::abort();
    }
  }

  // The number of fibers started.
  std::size_t size() const { return size_; }

  // Blocks the calling fiber (parked) or thread until every fiber of the batch has
  // returned or thrown; then rethrows the first exception a fiber threw (by the
  // time order of the throws; the others are dropped). Throws std::logic_error if
  // called twice.
  void join() {
    if (joined_) throw std::logic_error("spindle::BatchHandle::join: already joined");
    wait_group_.wait();
    joined_ = true;
    // The WaitGroup's acquire (the done() that reached zero released every earlier
    // done()) orders the fibers' writes of error_ before this read.
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  // One fiber's payload: which handle, which index. Small enough for the fiber's
  // inline payload slot, so a burst allocates nothing beyond pooled fibers.
  struct Body {
    BatchHandle* self;
    std::size_t index;
    void operator()() const { self->run_one(index); }
  };

  void run_one(std::size_t i) {
    try {
      fn_(i);
    } catch (const detail::ForcedUnwind&) {
      throw;  // the fiber is being destroyed, not failing: let it unwind
    } catch (...) {
      // The first thrower keeps its exception; the acq_rel exchange orders the
      // claims, the WaitGroup orders error_ before join()'s read.
      if (!failed_.exchange(true, std::memory_order_acq_rel)) error_ = std::current_exception();
    }
    // Last touch of *this: join() may return and the handle vanish right after.
    wait_group_.done();
  }

  void start(Executor& executor, std::size_t n) {
    using P = detail::Payload<Body, void>;
    static_assert(sizeof(P) <= detail::Fiber::kInlinePayload && alignof(P) <= 16);
    wait_group_.add(static_cast<std::int64_t>(n));
    Task* first = nullptr;
    Task* last = nullptr;
    std::size_t made = 0;
    try {
      for (; made < n; ++made) {
        // As spawn(): a throw before the fiber is complete gives back what it took.
        detail::SpawnRollback rollback(executor);
        detail::Fiber* fiber = rollback.hold(detail::Fiber::acquire(executor.fiber_stack_size()));
        P* payload = ::new (fiber->inline_payload()) P{Body{this, made}, std::nullopt};
        void (*destroy)(void*) = [](void* p) { static_cast<P*>(p)->~P(); };
        rollback.hold(payload, destroy);
        fiber->start(&executor, {}, &P::run, payload, destroy);
        rollback.commit();
        fiber->release();  // detached: the fiber recycles itself when it ends
        if (first == nullptr) first = fiber;
        else last->next = fiber;
        last = fiber;
      }
    } catch (...) {
      // Run the fibers already made, wait for them, and report the failed spawn.
      wait_group_.add(-static_cast<std::int64_t>(n - made));
      size_ = made;
      if (made > 0) executor.submit_batch(first, made);
      wait_group_.wait();
      joined_ = true;
      throw;
    }
    size_ = n;
    if (n > 0) executor.submit_batch(first, n);
  }

  F fn_;
  WaitGroup wait_group_;
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
  std::size_t size_ = 0;
  bool joined_ = false;
};

// Starts fn(0), fn(1) ... fn(n - 1) on n fibers of `executor` (a Scheduler,
// ThreadPool...) in one submission, and returns the handle to join them. `fn` is
// moved (or copied) into the handle and called from every fiber, concurrently:
// it must be safe to call so. n == 0 starts nothing (join() returns at once).
// Callable from plain threads and from fibers. Throws what spawn() throws
// (std::logic_error after the executor's shutdown began, std::system_error if a
// stack cannot be mapped...); the fibers started before such a failure have then
// been run to completion first, so nothing refers to the failed call any more.
template <class F>
BatchHandle<std::decay_t<F>> spawn_many(Executor& executor, std::size_t n, F&& fn) {
  return BatchHandle<std::decay_t<F>>(executor, n, std::forward<F>(fn));
}

}  // namespace spindle
