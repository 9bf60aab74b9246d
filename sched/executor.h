// Executor: anything that runs Tasks. Fibers (fibers/) run on any Executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string_view>

namespace spindle {

// An intrusive unit of work. Submitting a Task allocates nothing: the queue links
// it through `next`. Whoever holds a Task in a queue owns `next`; `run` is called
// exactly once per submit, on some thread of the executor.
struct Task {
  Task* next = nullptr;
  void (*run)(Task* self) = nullptr;
  // Called (instead of `run`) when a timer set with Executor::add_timer expires;
  // `tag` lets the task ignore timers it no longer cares about.
  void (*timer_expired)(Task* self, std::uint64_t tag) = nullptr;
};

using Clock = std::chrono::steady_clock;

// Where a submitted task goes relative to other queued work.
enum class Placement : std::uint8_t {
  kNext,   // run soon: a worker's `runnext` slot (a just-woken or just-spawned task)
  kBack,   // behind the work already queued (a yield)
  kFront,  // ahead of the queued work, behind runnext (a spawning fiber's
           // continuation: fork-join trees then run depth-first)
  kSpare,  // as kBack, but submitted from a worker it wakes no idle worker: for a
           // task that matters only once the submitter's running task blocks
           // (spawn_many's spare fiber), which that worker then runs itself. An
           // idle worker that looks for work anyway may still steal it. From a
           // plain thread the same as kBack (somebody must be woken to run it).
};

// Which fiber an executor hook is about: the sched layer knows fibers by no more.
struct FiberInfo {
  std::uint64_t id = 0;    // the fiber's id (JoinHandle::id, this_fiber::id)
  std::string_view name;   // FiberOptions::name; may be empty. Valid during the call only
};

// Receives an exception that escaped a detached fiber, which nobody can join any
// more (SchedulerOptions::on_unhandled_exception).
using UnhandledExceptionHandler = std::function<void(const FiberInfo& fiber, std::exception_ptr error)>;

class Executor {
 public:
  virtual ~Executor() = default;

  // Queues `task` to run once. Callable from any thread, also from the executor's
  // own tasks. Never blocks on other tasks.
  virtual void submit(Task* task, Placement placement = Placement::kBack) = 0;

  // Queues `n` tasks at once: `first` and the tasks linked after it through
  // Task::next (the last one's `next` is ignored), each to run once, in no promised
  // order. Callable from any thread. An executor may make this cheaper than n
  // submits (the Scheduler takes its queue's lock once and decides once how many
  // workers to wake); the default submits them one by one (kBack).
  virtual void submit_batch(Task* first, std::size_t n);

  // Calls task->timer_expired(task, tag) on an executor thread at or after
  // `deadline`. Timers are not cancelled: a task ignores stale tags.
  virtual void add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) = 0;

  // Outstanding-work accounting, for shutdown: the fibers layer calls
  // on_work_started() when a fiber is spawned and on_work_finished() when it ends;
  // an executor's destructor waits until the count drops to zero. on_work_started
  // throws std::logic_error when the executor no longer accepts new work. A spawn
  // that throws after on_work_started (no stack, a throwing move of the callable)
  // undoes it with on_work_finished, on the same thread, before returning.
  virtual void on_work_started() {}
  virtual void on_work_finished() noexcept {}

  // The executor's clock. Real time everywhere except under simulation
  // (testing/simulation.h), where time jumps to the next timer when nothing can run.
  // Timed waits and sleeps measure deadlines with it (fibers: detail::now()).
  virtual Clock::time_point now() const { return Clock::now(); }

  // The handler for exceptions that escape this executor's detached fibers, or null:
  // then the program terminates with a message naming the fiber and the exception.
  // Shared, because a handle detached after its fiber ended may call it after the
  // executor is gone.
  virtual std::shared_ptr<const UnhandledExceptionHandler> unhandled_exception_handler() const { return nullptr; }

  // Usable stack bytes for fibers spawned here without an explicit size; 0 means
  // coro's kDefaultStackSize.
  virtual std::size_t fiber_stack_size() const { return 0; }

  // Name for diagnostics.
  virtual const char* name() const { return "executor"; }

  // The executor whose task is running on this thread, or null. Non-inlined: it is
  // read after switches that may move a fiber to another thread.
  [[gnu::noinline]] static Executor* current();

 protected:
  // Executors set this on their threads while running tasks.
  static void set_current(Executor* executor);
};

}  // namespace spindle
