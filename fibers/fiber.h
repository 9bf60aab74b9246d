// The fiber control block: a Coroutine made schedulable as a Task on an Executor.
// Users never see this type; they hold JoinHandles (fibers/spawn.h) and call
// this_fiber:: functions (fibers/this_fiber.h).
//
// Life of a fiber (all transitions on the thread that runs it unless noted):
//   spawn: a pooled control block is re-armed with the body and submitted.
//   run_task (executor thread): resume() the coroutine; when it switches back, run
//     the action it left behind (park callback, yield, child spawn) — only now is
//     it safe for other threads to see the fiber, since it is off its stack.
//   hand-off (on a Scheduler worker): a fiber about to switch away may instead
//     switch straight to the fiber its worker would run next (Scheduler::
//     take_for_handoff), one switch instead of two. Its action is then left for
//     the receiving fiber, which runs it first thing after the switch
//     (run_pending_handoff) — again only once the first fiber is off its stack.
//     The receiver returns to the worker's loop when it switches away normally.
//   finish: the result is stored, joiners are woken, and the control block goes
//     back to a pool once both the fiber and its JoinHandle are done with it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
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

// Per-fiber (or per-thread, off fibers) storage behind FiberLocal<T>. The table
// of slots is allocated on the first FiberLocal access and kept while the fiber's
// control block is pooled: most fibers use no FiberLocal and carry only the null
// pointer (the table is 776 bytes; inline, every parked fiber paid for it).
struct LocalSlots {
  struct Table {
    void* values[kMaxFiberLocals] = {};
    // Which FiberLocal (by generation) a value belongs to: a slot freed and reused
    // by another FiberLocal must not hand out the old, differently typed value.
    std::uint64_t generation[kMaxFiberLocals] = {};
    void (*destroy[kMaxFiberLocals])(void*) = {};
    // Whether any value may be set: clear() then looks at nothing else.
    bool any = false;
  };
  Table* table = nullptr;  // null until the first FiberLocal access

  LocalSlots() = default;
  LocalSlots(const LocalSlots&) = delete;
  LocalSlots& operator=(const LocalSlots&) = delete;
  ~LocalSlots() {
    clear();
    delete table;
  }
  // The table, allocated on first use. Throws std::bad_alloc.
  Table& get() { return table != nullptr ? *table : *(table = new Table()); }
  // Destroys every value set (the table stays for the control block's next fiber).
  void clear() noexcept;
};

class Fiber final : public Task {
 public:
  // What run_task does once the fiber has switched away.
  // kQueueFront: after handing the worker straight to a spawned child, queue this
  // fiber first in line behind it.
  enum class Action : std::uint8_t { kNone, kPark, kYield, kRunChild, kQueueFront };

  // A control block from the calling thread's pool (or a new one) whose stack has
  // at least `stack_size` usable bytes (0: the default). Throws
  // std::invalid_argument above kMaxStackSize, std::system_error if a new stack
  // cannot be mapped, std::bad_alloc.
  static Fiber* acquire(std::size_t stack_size);
  // Gives a block from acquire() back to the pool unstarted (a spawn that threw
  // before launching it; the caller destroys any payload it made).
  void discard() noexcept;

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
  // Word layout: (sequence << kSeqShift) | kOwnStopBit? | kPublishedBit? | state. A
  // wait bumps the sequence, so a timer, notify or stop aimed at an earlier wait
  // fails its compare-exchange and does nothing. Every transition out of kWaiting is
  // a compare-exchange (acq_rel) on this word, so exactly one of notify, deadline
  // and stop ends a wait; the winner's earlier writes happen before the fiber reads
  // wait_state() (acquire) after it resumes.
  enum WaitState : std::uint64_t { kIdle = 0, kWaiting = 1, kNotified = 2, kTimedOut = 3, kStopped = 4 };
  static constexpr std::uint64_t kStateMask = 7;
  // Set by the park callback once the wait is published: from then on a stop may
  // ready the fiber itself. A stop that ends the wait earlier leaves the readying
  // to the park callback (the fiber may still be on its stack then).
  static constexpr std::uint64_t kPublishedBit = 8;
  // This wait also ends on the fiber's own request_stop() (this_fiber::sleep_*).
  static constexpr std::uint64_t kOwnStopBit = 16;
  static constexpr unsigned kSeqShift = 5;
  std::uint64_t begin_wait(bool own_stop = false);
  // Moves wait `seq` from kWaiting to `to`. True for the one caller that does.
  bool end_wait(std::uint64_t seq, WaitState to);
  // Ends wait `seq` as notified when nothing else can race to end it (no timer, no
  // stop, a sole notifier): a release store.
  void end_wait_sole(std::uint64_t seq) {
    wait_word_.store((seq << kSeqShift) | kNotified, std::memory_order_release);
  }
  // Ends wait `seq` as stopped, and readies the fiber if the wait was published.
  // True if this call ended it. Any thread.
  bool stop_wait(std::uint64_t seq);
  // The park callback, after publishing wait `seq`: marks it published. True if a
  // stop ended it before that (nobody readied the fiber: the caller must).
  bool mark_published(std::uint64_t seq);
  WaitState wait_state() const {
    return static_cast<WaitState>(wait_word_.load(std::memory_order_acquire) & kStateMask);
  }
  void timer_armed() { timers_pending_.fetch_add(1, std::memory_order_relaxed); }
  // Keeps the control block from being freed (not from being reused) while a park
  // callback still touches it after publishing (the timers' reference count).
  void hold() { timers_pending_.fetch_add(1, std::memory_order_relaxed); }
  void unhold() { timers_pending_.fetch_sub(1, std::memory_order_release); }

  // --- called from inside the fiber ------------------------------------------------
  // Suspends; once off its stack, `callback(arg)` runs on the same executor thread
  // (in its loop, or first thing in the fiber the worker was handed to). If it
  // returns false, the fiber is readied again at once (nothing to wait for).
  // Inline, like yield().
  void park(bool (*callback)(void*), void* arg) {
    if (park_hook_ != nullptr) [[unlikely]] park_hook_(park_hook_arg_);
    park_callback_ = callback;
    park_arg_ = arg;
    action_ = Action::kPark;
    switch_away();
  }
  // Calls hook(arg) inside this fiber each time it is about to park (not when it
  // yields), until cleared with nullptr; start() clears it. spawn_many's batch
  // fibers start a spare fiber there when a job blocks (sync/spawn_many.h). The
  // hook runs between a wait's publication and the switch: it must not throw,
  // park, or wait.
  void set_park_hook(void (*hook)(void*), void* arg) {
    park_hook_ = hook;
    park_hook_arg_ = arg;
  }
  // Suspends and re-queues behind the executor's queued work. Inline (like
  // Coroutine::suspend) so that the switch returns straight into the caller's
  // code instead of through returns the return-stack predictor would miss.
  void yield() {
    action_ = Action::kYield;
    switch_away();
  }
  // Suspends so that `child` (same executor, never started) runs right away; this
  // fiber is queued first in line behind it (work-first spawning).
  void run_child_first(Fiber* child) {
    if (begin_handoff_to(child)) {
      action_ = Action::kQueueFront;
      coro_.transfer_to(child->coro_);
    } else {
      child_ = child;
      action_ = Action::kRunChild;
      coro_.suspend();
    }
    run_pending_handoff();
  }

  // --- any thread --------------------------------------------------------------------
  // Readies a parked fiber (into runnext on a worker of its executor).
  void wake() { executor_->submit(this, Placement::kNext); }
  // Sets the stop flag, requests stop on the fiber's stop_token, and ends a wait
  // that the fiber's own stop cancels (begin_wait(own_stop = true)).
  void request_stop();
  // seq_cst: the waiter's half of the Dekker pair with request_stop() (see
  // begin_wait).
  bool stop_requested() const { return stop_requested_.load(std::memory_order_seq_cst); }
  std::stop_token stop_token();

  // The JoinHandle is done with the fiber (joined or detached). Whichever of the
  // handle and the finishing fiber comes last recycles the control block, on its
  // own thread.
  void release();

  // Ending: the handle side waits for `finished` and reads the exception.
  bool finished() const { return (end_.load(std::memory_order_acquire) & kFinished) != 0; }
  std::exception_ptr take_exception() { return std::exchange(exception_, nullptr); }
  // Registers a joiner. False if the fiber has already finished (no wait needed).
  bool set_joiner(Waiter* waiter);
  // A joiner whose wait was stopped takes its registration back: kWithdrawn (the
  // fiber still runs and will not touch the Waiter), kFinishing (finish() took the
  // Waiter and is calling its notify_or_release(): wait_released() before it goes),
  // or kNotRegistered (it had finished before set_joiner).
  enum class Withdrawal : std::uint8_t { kWithdrawn, kFinishing, kNotRegistered };
  Withdrawal withdraw_joiner(Waiter* waiter);

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
  // Leaves this fiber's stack with action_ set: straight into the next local fiber
  // when the worker allows a hand-off, else back to the executor's loop. Either
  // way whoever runs next performs action_ once we are off our stack.
  void switch_away() {
    if (Fiber* target = take_handoff_target()) {
      coro_.transfer_to(target->coro_);
    } else {
      coro_.suspend();
    }
    run_pending_handoff();
  }
  // The fiber to hand this thread to, marked as such, or null (out of line: they
  // touch thread-locals, which must not be cached across a switch).
  Fiber* take_handoff_target();
  bool begin_handoff_to(Fiber* next);
  // Runs the action of the fiber that handed this thread to the calling one.
  static void run_pending_handoff();
  void after_switch();
  static void on_timer(Task* task, std::uint64_t seq);
  void run_body();
  void finish();
  void recycle();
  // The fiber ended with an exception and was detached: nobody will see it, so
  // it goes to the executor's handler, or terminates the program.
  [[gnu::cold]] void report_unhandled_exception() noexcept;

  Coroutine coro_;
  Executor* executor_ = nullptr;
  void (*body_)(void*) = nullptr;
  void* payload_ = nullptr;
  void (*destroy_payload_)(void*) = nullptr;
  std::atomic<std::uint64_t> wait_word_{0};
  // Timers still referring to this block (and park callbacks holding it): it is
  // never freed while any is pending.
  std::atomic<int> timers_pending_{0};
  std::exception_ptr exception_;
  // The executor's handler for an exception nobody joins for, captured when the
  // fiber ends with an exception while the executor surely lives (a handle
  // detached later may outlive the executor). Published to the handle side by end_.
  std::shared_ptr<const UnhandledExceptionHandler> unhandled_handler_;
  // How the fiber ends, in one word so that finishing costs one atomic
  // read-modify-write: kFinished (set by the fiber), kReleased (set by the
  // JoinHandle), and the joiner's Waiter* in the other bits (Waiters are 8-byte
  // aligned). Release/acquire on this word publishes the result and exception to
  // the handle, and each side's last touches to whichever side recycles.
  static constexpr std::uintptr_t kFinished = 1, kReleased = 2, kFlags = 3;
  std::atomic<std::uintptr_t> end_{0};
  std::atomic<bool> stop_requested_{false};
  std::mutex stop_lock_;          // guards stop_source_
  std::stop_source stop_source_{std::nostopstate};
  bool stop_source_made_ = false;  // guarded by stop_lock_ while references remain
  Action action_ = Action::kNone;
  bool (*park_callback_)(void*) = nullptr;
  void* park_arg_ = nullptr;
  void (*park_hook_)(void*) = nullptr;
  void* park_hook_arg_ = nullptr;
  Fiber* child_ = nullptr;
  std::uint64_t id_ = 0;
  LocalSlots locals_;
  // FiberPool's link: the next block of a cache or batch. (A batch's first block
  // in the global list also keeps the batch's own links, in inline_payload_'s
  // storage, which no payload uses while the block is pooled: fiber_pool.cc.)
  Fiber* pool_next_ = nullptr;
  alignas(16) unsigned char inline_payload_[kInlinePayload];
};

// The fiber running on this thread, or null. Not inlined (see coro/current.h).
[[gnu::noinline]] Fiber* current_fiber();

// Who is calling, for ownership checks and misuse messages (sync/): the fiber's id
// on a fiber; on a plain thread a per-thread number with kCallerIsThread set
// (never equal to a fiber id). Nonzero. One call: it sits on sync's fast paths.
inline constexpr std::uint64_t kCallerIsThread = std::uint64_t{1} << 63;
[[gnu::noinline]] std::uint64_t caller_id() noexcept;

}  // namespace spindle::detail
