// Scheduler: the default ("fast") executor. N worker threads (pinned on request), each
// with a `runnext` slot and a bounded lock-free run queue; a global queue for
// submissions from outside and for overflow; work stealing nearest-first; idle
// workers park on a futex and burn no CPU. Modelled on Go's runtime/proc.go.
//
//   spindle::Scheduler sched({.workers = 4, .name = "render"});
//   auto h = sched.spawn([] { return 42; });   // fibers/spawn.h
//   int v = h.join();
//
// Several Schedulers may live in one process; none is a singleton.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "spindle/sched/burst_pacer.h"
#include "spindle/sched/executor.h"
#include "spindle/sched/poller.h"
#include "spindle/sched/task_list.h"
#include "spindle/sched/topology.h"

namespace spindle {

enum class Pinning : std::uint8_t {
  kCores,         // one worker per physical core, pinned to that core's PUs
  kHyperthreads,  // one worker per PU (hardware thread), pinned to it
  kNone,          // one worker per online CPU, not pinned (the default)
};

struct SchedulerOptions {
  // The most workers a Scheduler accepts; more is rejected (std::invalid_argument).
  static constexpr std::size_t kMaxWorkers = 4096;
  // The largest fiber stack (equal to coro's kMaxStackSize, 1 GiB).
  static constexpr std::size_t kMaxStackSize = std::size_t{1} << 30;

  // Number of workers, at most kMaxWorkers; 0 picks one per core (kCores), per PU
  // (kHyperthreads) or per online CPU (kNone), capped at kMaxWorkers. More workers
  // than cores wrap around the cores.
  std::size_t workers = 0;
  // Not pinned by default: the kernel may move a worker off a CPU that another
  // thread or process wants. Measured for a game loop's frame (bench/frame: a
  // plain thread forks 64 jobs of ~2 us onto 2 workers and waits) on a 2-vCPU VM
  // with another process busy on one core, 2026-12-02: spawn + WaitGroup back to
  // back, p50 per frame pinned 3.9 ms against unpinned 0.16-0.35 ms (a pinned
  // worker preempted on the busy core holds its job until its next time slice),
  // oneTBB 0.12 ms; spawn_many bursts about equal (pinned 140/123 us, unpinned
  // 149/125 us with/without 1 ms between frames), and equal on a quiet machine.
  // Pin (kCores, kHyperthreads) where spindle's workers have the cores to
  // themselves.
  Pinning pinning = Pinning::kNone;
  // Usable stack bytes of the fibers spawned here, at most kMaxStackSize; 0 is
  // coro's kDefaultStackSize.
  std::size_t stack_size = 0;
  // How long a worker that ran out of work keeps looking (stealing, polling the
  // global queue) before it parks, while it is the one spinning worker allowed per
  // two busy ones. Work that arrives meanwhile (the next frame of a game loop, a
  // burst from a plain thread) then costs no futex wake. Zero parks at once. An
  // idle Scheduler still parks: this is spent once per run-out, not continuously.
  // Only a worker that ran a task since it last woke spins (one woken for a task
  // another worker took parks at once), and it yields its CPU at every round, so a
  // thread waiting on that CPU for the work's results (a game loop's main thread)
  // runs at once rather than after the window.
  std::chrono::microseconds spin_before_park{50};
  // Wake ahead of a steady pace of bursts from outside the pool: a game loop
  // whose main thread starts each frame as a spawn_many burst and sleeps between
  // frames. Once a plain thread's batch submissions (submit_batch) to an idle
  // pool have come at a steady pace (50 us to 100 ms apart; three in a row within
  // an eighth of it), one worker ends its park a little before the next is due
  // and spins until a little after, on another CPU than the submitter's, so the
  // burst finds a worker awake instead of paying a futex wake-up (90-120 us on a
  // 2-vCPU KVM guest). The window is learnt from the jitter of the pace and from
  // how late timed wakes run; one that passes without its burst turns this off
  // until the pace is steady again, so an idle Scheduler, or one fed irregularly
  // or one task at a time, never wakes early. Costs one timed wake and a short
  // spin per burst (bench/frame, 1 ms between frames: ~75 us more CPU per frame);
  // see sched/burst_pacer.h. False: workers wake only when work comes.
  bool anticipate_bursts = true;
  // Names the worker threads ("<name>/<i>") and appears in diagnostics.
  std::string name = "spindle";
  // The machine to place workers on; defaults to Topology::detect(). Tests pass a
  // synthetic one (with Pinning::kNone, since its PUs are not real).
  std::optional<Topology> topology = std::nullopt;
  // Called with an exception that escapes a detached fiber of this scheduler (its
  // JoinHandle was detached, so nobody can join it and see the exception). Empty
  // (the default): the program prints "spindle: exception escaped detached fiber
  // #<id> '<name>': <what()>" and calls std::terminate, as an exception escaping a
  // std::thread does. The handler runs on the worker where the fiber ended, or on
  // the thread that calls detach() if the fiber had already ended; it must not
  // throw (std::terminate) and must not block (no waits on spindle primitives:
  // it may run on the stack of the worker's next fiber). It is never called for
  // joined fibers: join() rethrows their exceptions.
  UnhandledExceptionHandler on_unhandled_exception = {};
};

// Counters, approximate while workers run.
struct SchedulerStats {
  std::uint64_t tasks_run = 0;
  std::uint64_t steals = 0;        // successful steal operations (each takes half a queue)
  std::uint64_t parks = 0;         // times a worker went to sleep
  std::uint64_t global_polls = 0;  // tasks taken from the global queue
  double parked_seconds = 0;       // summed over workers: time asleep with nothing to do
  std::uint64_t paced_wakes = 0;   // windows a worker spun in ahead of a predicted burst (anticipate_bursts)
  std::uint64_t paced_misses = 0;  // of those, windows that passed without the burst
};

class Scheduler final : public Executor {
 public:
  // Starts the workers; they sleep until there is work. Throws
  // std::invalid_argument for options out of range (workers above kMaxWorkers,
  // stack_size above kMaxStackSize, a topology without cores), and
  // std::system_error naming the worker if a worker thread cannot be created (the
  // workers already started are stopped and joined first). Takes time linear in
  // the number of workers.
  explicit Scheduler(SchedulerOptions options = {});
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Shutdown: new spawns from outside the scheduler fail (std::logic_error) from
  // this point; the destructor blocks the calling thread until every fiber spawned
  // here has finished (fibers may still spawn children while it drains), printing
  // a warning every 5 s while some remain (naming the fibers blocked in I/O, if a
  // poller is installed, and what each waits on); then it stops and joins the
  // workers. Fibers parked forever therefore keep it waiting: join or stop them
  // first (a fiber blocked in I/O ends on request_stop() or when its socket closes).
  // It also waits for threads of other executors that are still inside submit()
  // on this scheduler (a fiber of another scheduler waking one of ours), so the
  // memory is freed only once nobody touches it.
  ~Scheduler() override;

  void submit(Task* task, Placement placement = Placement::kBack) override;
  // A burst: from a thread outside the pool (a game loop's main thread), the tasks
  // join the global queue under one lock, and as many parked workers as the burst
  // can use (up to n) are woken at once instead of one after the other. From a
  // worker, they go to its local queue (its overflow to the global queue), and
  // idle workers come to steal as after submit().
  void submit_batch(Task* first, std::size_t n) override;
  void add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) override;
  void on_work_started() override;
  void on_work_finished() noexcept override;
  const char* name() const override { return options_.name.c_str(); }
  std::size_t fiber_stack_size() const override { return options_.stack_size; }
  std::shared_ptr<const UnhandledExceptionHandler> unhandled_exception_handler() const override {
    return unhandled_exception_handler_;
  }

  // --- the poller seam (sched/poller.h) ------------------------------------------------
  // Installs `poller` unless one is installed already, and returns the one that is
  // (the Scheduler owns it and destroys it after its workers have stopped). Any
  // thread, any time; io/ calls it on first use. Idle workers then poll it.
  Poller* install_poller(std::unique_ptr<Poller> poller);
  // The installed poller, or null.
  Poller* poller() const { return poller_.load(std::memory_order_acquire); }

  std::size_t worker_count() const { return workers_.size(); }
  // True once the destructor has begun (new outside spawns fail).
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  const SchedulerOptions& options() const { return options_; }
  const Topology& topology() const { return topology_; }
  SchedulerStats stats() const;

  // --- the hand-off seam (fibers/fiber.h) -------------------------------------------
  // A fiber about to switch away on one of this scheduler's workers may switch
  // straight to the task the worker would run next, skipping the worker's loop (one
  // context switch instead of two). Both calls take one scheduling tick on behalf
  // of the loop and say no (null / false) when the caller is not on a worker of
  // `executor`, or when the loop has periodic work due at this tick (timers, the
  // global queue's fairness poll): then the fiber switches back to the loop.
  //
  // take_for_handoff removes and returns the next local task if its `run` is
  // `run` (runnext first, within the runnext streak limit, then the local queue);
  // otherwise it leaves the queues as they are.
  static Task* take_for_handoff(const Executor* executor, void (*run)(Task*));
  // Whether the caller may hand its worker to a task of its own choosing.
  static bool may_hand_off(const Executor* executor);

  // Index of the worker running the calling code, if it is one of this scheduler's
  // workers; -1 otherwise.
  int current_worker_index() const;

  // The CPUs worker `i` is allowed to run on, read back from the OS.
  std::vector<int> worker_affinity(std::size_t i) const;

  // Victims of worker `i` in the order it tries them: groups of equal distance,
  // nearest first (the order within a group is randomised at every steal).
  std::vector<std::vector<int>> victim_groups(std::size_t i) const;

 private:
  struct Worker;

  static SchedulerOptions validated(SchedulerOptions options);
  void place_workers(std::size_t n);
  void start_workers();
  void wait_for_first_wake(Worker& w);
  void worker_main(Worker& w);
  Task* find_work(Worker& w);
  Task* take_global(Worker& w, bool batch);
  Task* steal(Worker& w, bool with_runnext);
  Task* steal_runnext(Worker& victim);
  Task* spin_for_work(Worker& w);
  Task* spin_until(Worker& w, Clock::time_point until);
  Task* take_runnext(Worker& w);
  Task* put_runnext(Worker& w, Task* task);
  bool fire_timers(Worker& w, bool try_only = false);
  bool fire_others_timers(Worker& w);
  // The idle path: announce idleness, re-check, park, come back. Returns a task
  // found on the way, or null to look again; `exit` at shutdown.
  Task* go_idle(Worker& w, bool& exit);
  // Blocks an idle worker until it is unparked or a timer it watches is due.
  void park_idle(Worker& w);
  void hand_over_timer_watch(Worker& w);
  bool any_timer_pending() const;
  void push_local(Worker& w, Task* task, Placement placement);
  // Takes w off the idle list if it is on it (w's own thread, after a poller wait).
  void leave_idle(Worker& w);
  // Wakes a parked worker if there is one and nobody is looking for work.
  void wake_if_idle();
  [[gnu::noinline]] void overflow_to_global(Worker& w, Task* task);
  // True when no other worker is idle or spinning, i.e. none would steal now.
  bool nobody_would_steal() const;
  void wake_idle_worker();
  // Takes up to `n` parked workers off the idle list (lock_ held) into `out`, as
  // workers that are not spinning; the caller unparks them after unlocking.
  std::size_t take_idle_workers_locked(std::size_t n, Worker** out);
  void stop_spinning(Worker& w);
  // anticipate_bursts: a plain thread's submission (lock_ held) tells the pacer of
  // a burst if no worker is running a task; a worker ends its window (hit: it
  // found work in it).
  void note_outside_submission_locked();
  bool claim_pacing_locked(Worker& w, Clock::time_point now);
  void note_ran_out(const Worker& w);
  void end_pacing(Worker& w, bool hit);
  // Whether anything is queued that a worker other than `w` could take: a local
  // queue, the global queue, another worker's runnext.
  bool work_for_another(const Worker& w) const;
  Worker* current_worker() const;
  bool periodic_work_due(const Worker& w, std::uint32_t tick) const;
  void give_back_credit(Worker& w);
  void give_back_work(std::int64_t n);
  bool any_queued_work() const;
  // Poller hooks (worker_loop.cc): poll before stealing, block in the poller
  // instead of the futex, and unpark a worker wherever it sleeps.
  bool poll_io(Worker& w, bool run_first);
  bool io_waiting() const;
  bool wait_in_poller(Worker& w, std::optional<Clock::time_point> deadline);
  void unpark_worker(Worker& w);

  SchedulerOptions options_;
  Topology topology_;
  std::shared_ptr<const UnhandledExceptionHandler> unhandled_exception_handler_;  // null: terminate
  std::vector<std::unique_ptr<Worker>> workers_;
  // Victim groups per core that has workers, shared by that core's workers (so
  // setting them up costs workers x cores used, not workers squared); each lists
  // the workers of the core itself too, whom the thief skips (Worker::victim_groups).
  std::vector<std::vector<std::vector<int>>> victims_by_core_;

  // lock_ guards global_, idle_ and the shutdown handshake. The atomic mirrors let
  // hot paths skip the lock when there is nothing to do.
  mutable std::mutex lock_;
  detail::TaskList global_;
  std::atomic<std::size_t> global_size_{0};
  std::vector<int> idle_;            // parked workers, by index
  std::atomic<int> idle_count_{0};
  std::atomic<int> spinning_{0};     // workers looking for work without parking
  // anticipate_bursts: the pace of bursts from outside (guarded by lock_), and the
  // one worker at a time that wakes ahead of the next (claimed with a CAS by a
  // worker going idle, given back by it when its window ends; only it writes its
  // Worker::pacing fields).
  detail::BurstPacer pacer_;
  std::atomic<Worker*> anticipator_{nullptr};
  // When the pool last ran out of work (a worker found none with every other one
  // parked or spinning) and when the last burst came, in Clock ticks: the pacer's
  // gap model. Relaxed: a stale value only mispredicts, which the window absorbs
  // or a miss corrects.
  std::atomic<std::int64_t> ran_out_at_{0}, last_burst_at_{0};
  std::atomic<std::uint64_t> paced_wakes_{0}, paced_misses_{0};
  // Fibers spawned and not finished, plus the workers' spawn credit (see
  // on_work_started in scheduler.cc).
  std::atomic<std::int64_t> outstanding_{0};
  // The timer watch: one idle worker at a time parks with the earliest deadline of
  // every worker (not only its own), so a timer whose worker is busy in a long task
  // still fires on time. watch_until_ is the watcher's park deadline (Clock ticks),
  // INT64_MAX while it computes one or while nobody watches. add_timer stores its
  // deadline, then reads these (all seq_cst); the watcher publishes itself, then
  // reads every deadline: so either it sees the new deadline or add_timer sees it
  // and unparks it (see park_idle).
  std::atomic<Worker*> timer_watcher_{nullptr};
  std::atomic<std::int64_t> watch_until_{INT64_MAX};
  std::atomic<bool> stopping_{false};  // destructor started: no new outside work
  std::atomic<bool> shutdown_{false};  // drained: workers exit
  std::condition_variable drained_;
  // Threads other than this scheduler's workers inside submit() or add_timer():
  // after making a task runnable they still touch *this (waking a worker), possibly
  // after that task has finished and the destructor has seen the work drained. The
  // destructor waits for this count to reach zero before it frees anything.
  std::atomic<int> foreign_calls_{0};
  // The poller, set once (under lock_) and never changed until the destructor;
  // poller_blocked_: a worker is blocked in poller->wait() (at most one is).
  std::unique_ptr<Poller> poller_owner_;
  std::atomic<Poller*> poller_{nullptr};
  std::atomic<bool> poller_blocked_{false};
};

}  // namespace spindle
