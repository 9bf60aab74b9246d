// The fiber control block: a Coroutine made schedulable as a Task on an Executor.
// Users never see this type; they hold JoinHandles (fibers/spawn.h) and call
// this_fiber:: functions (fibers/this_fiber.h).
//
// Life of a fiber (all transitions on the thread that runs it unless noted):
//   spawn: a pooled control block is re-armed with the body and submitted.
//   run_task (executor thread): resume() the coroutine; when it switches back, run
//     the action it left behind (park callback, yield, child spawn) — only now is
//     it safe for other threads to see the fiber, since it is off its stack.
//   finish: the result is stored, joiners are woken, and the control block goes
//     back to a pool once both the fiber and its JoinHandle are done with it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stop_token>
#include <string_view>
#include <utility>

#include "spindle/coro/coroutine.h"
#include "spindle/sched/executor.h"

namespace spindle {
class Waiter;
}

namespace spindle::detail {

inline constexpr std::size_t kMaxFiberLocals = 32;

// Per-fiber (or per-thread, off fibers) storage behind FiberLocal<T>.
struct LocalSlots {
  void* values[kMaxFiberLocals] = {};
  // Which FiberLocal (by generation) a value belongs to: a slot freed and reused
  // by another FiberLocal must not hand out the old, differently typed value.
  std::uint64_t generation[kMaxFiberLocals] = {};
  void (*destroy[kMaxFiberLocals])(void*) = {};
  void clear() noexcept;
};

class Fiber final : public Task {
 public:
  // What run_task does once the fiber has switched away.
  enum class Action : std::uint8_t { kNone, kPark, kYield, kRunChild };

  // A control block from the calling thread's pool (or a new one) whose stack has
  // at least `stack_size` usable bytes (0: the default).
  static Fiber* acquire(std::size_t stack_size);

  // Room inside the control block for a spawn's callable and result, so that most
  // spawns allocate nothing; bigger ones go to the heap (spawn.h).
  static constexpr std::size_t kInlinePayload = 160;
  void* inline_payload() { return inline_payload_; }

  // Arms the fiber to call body(payload) and then mark it finished. `payload` is
  // destroyed with destroy_payload(payload) when the control block is recycled,
  // unless the JoinHandle took it over (take_payload) first.
  void start(Executor* executor, std::string_view name, void (*body)(void*), void* payload,
             void (*destroy_payload)(void*));
  void* take_payload() { return std::exchange(payload_, nullptr); }

  // --- the wait word, for Waiter (fibers/waiter.h) ---------------------------------
  // Word layout: (sequence << 2) | state. A wait bumps the sequence, so a timer or
  // notify aimed at an earlier wait fails its compare-exchange and does nothing.
  enum WaitState : std::uint64_t { kIdle = 0, kWaiting = 1, kNotified = 2, kTimedOut = 3 };
  std::uint64_t begin_wait();
  // Moves wait `seq` from kWaiting to `to`. True for the one caller that does.
  bool end_wait(std::uint64_t seq, WaitState to);
  WaitState wait_state() const { return static_cast<WaitState>(wait_word_.load(std::memory_order_acquire) & 3); }
  void timer_armed() { timers_pending_.fetch_add(1, std::memory_order_relaxed); }

  // --- called from inside the fiber ------------------------------------------------
  // Suspends; once off its stack, `callback(arg)` runs on the executor thread. If
  // it returns false, the fiber is readied again at once (nothing to wait for).
  void park(bool (*callback)(void*), void* arg);
  // Suspends and re-queues behind the executor's queued work. Inline (like
  // Coroutine::suspend) so that the switch returns straight into the caller's
  // code instead of through returns the return-stack predictor would miss.
  void yield() {
    action_ = Action::kYield;
    coro_.suspend();
  }
  // Suspends so that `child` (same executor) runs right away; this fiber is queued
  // behind it (work-first spawning).
  void run_child_first(Fiber* child);

  // --- any thread --------------------------------------------------------------------
  // Readies a parked fiber (into runnext on a worker of its executor).
  void wake() { executor_->submit(this, Placement::kNext); }
  void request_stop();
  bool stop_requested() const { return stop_requested_.load(std::memory_order_acquire); }
  std::stop_token stop_token();

  // Drops one of the two references (the running fiber's, the JoinHandle's); the
  // last one recycles the control block on the calling thread.
  void release();

  // Ending: the handle side waits for `finished` and reads the exception.
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  std::exception_ptr take_exception() { return std::exchange(exception_, nullptr); }
  // Registers a joiner. False if the fiber has already finished (no wait needed).
  bool set_joiner(Waiter* waiter);

  std::uint64_t id() const { return id_; }
  std::string_view name() const { return coro_.name(); }
  Executor* executor() const { return executor_; }
  LocalSlots& locals() { return locals_; }
  const Coroutine& coroutine() const { return coro_; }

  // What the fiber waits on, for diagnostics (set by waits, cleared after).
  const void* wait_object = nullptr;
  const char* wait_kind = nullptr;

 private:
  explicit Fiber(std::size_t stack_size);
  ~Fiber() = default;
  friend struct FiberPool;

  static void run_task(Task* task);
  static void on_timer(Task* task, std::uint64_t seq);
  void run_body();
  void finish();

  Coroutine coro_;
  Executor* executor_ = nullptr;
  void (*body_)(void*) = nullptr;
  void* payload_ = nullptr;
  void (*destroy_payload_)(void*) = nullptr;
  std::atomic<std::uint64_t> wait_word_{0};
  // Timers still referring to this block: it is never freed while any is pending.
  std::atomic<int> timers_pending_{0};
  std::exception_ptr exception_;
  std::atomic<int> refs_{0};
  std::atomic<bool> finished_{false};
  // Null: nobody joins yet; kJoinClosed: finished; else the joiner's Waiter.
  std::atomic<Waiter*> joiner_{nullptr};
  std::atomic<bool> stop_requested_{false};
  std::mutex stop_lock_;          // guards stop_source_
  std::stop_source stop_source_{std::nostopstate};
  bool stop_source_made_ = false;  // guarded by stop_lock_ while references remain
  Action action_ = Action::kNone;
  bool (*park_callback_)(void*) = nullptr;
  void* park_arg_ = nullptr;
  Fiber* child_ = nullptr;
  std::uint64_t id_ = 0;
  LocalSlots locals_;
  Fiber* pool_next_ = nullptr;
  alignas(16) unsigned char inline_payload_[kInlinePayload];
};

// The fiber running on this thread, or null. Not inlined (see coro/current.h).
[[gnu::noinline]] Fiber* current_fiber();

}  // namespace spindle::detail
