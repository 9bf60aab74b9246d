// Scheduler: the default ("fast") executor. N worker threads pinned to cores, each
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

#include "spindle/sched/executor.h"
#include "spindle/sched/task_list.h"
#include "spindle/sched/topology.h"

namespace spindle {

enum class Pinning : std::uint8_t {
  kCores,         // one worker per physical core, pinned to that core's PUs
  kHyperthreads,  // one worker per PU (hardware thread), pinned to it
  kNone,          // one worker per online CPU, not pinned
};

struct SchedulerOptions {
  // Number of workers; 0 picks one per core (kCores), per PU (kHyperthreads) or per
  // online CPU (kNone). More workers than cores wrap around the cores.
  std::size_t workers = 0;
  Pinning pinning = Pinning::kCores;
  // Usable stack bytes of the fibers spawned here; 0 is coro's kDefaultStackSize.
  std::size_t stack_size = 0;
  // How long a worker that ran out of work keeps looking (stealing, polling the
  // global queue) before it parks, while it is the one spinning worker allowed per
  // two busy ones. Work that arrives meanwhile (the next frame of a game loop, a
  // burst from a plain thread) then costs no futex wake. Zero parks at once. An
  // idle Scheduler still parks: this is spent once per run-out, not continuously.
  std::chrono::microseconds spin_before_park{50};
  // Names the worker threads ("<name>/<i>") and appears in diagnostics.
  std::string name = "spindle";
  // The machine to place workers on; defaults to Topology::detect(). Tests pass a
  // synthetic one (with Pinning::kNone, since its PUs are not real).
  std::optional<Topology> topology;
};

// Counters, approximate while workers run.
struct SchedulerStats {
  std::uint64_t tasks_run = 0;
  std::uint64_t steals = 0;        // successful steal operations (each takes half a queue)
  std::uint64_t parks = 0;         // times a worker went to sleep
  std::uint64_t global_polls = 0;  // tasks taken from the global queue
  double parked_seconds = 0;       // summed over workers: time asleep with nothing to do
};

class Scheduler final : public Executor {
 public:
  explicit Scheduler(SchedulerOptions options = {});
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Shutdown: new spawns from outside the scheduler fail (std::logic_error) from
  // this point; the destructor blocks the calling thread until every fiber spawned
  // here has finished (fibers may still spawn children while it drains), printing
  // a warning every 5 s while some remain; then it stops and joins the workers.
  // Fibers parked forever therefore keep it waiting: join or stop them first.
  ~Scheduler() override;

  void submit(Task* task, Placement placement = Placement::kBack) override;
  void add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) override;
  void on_work_started() override;
  void on_work_finished() noexcept override;
  const char* name() const override { return options_.name.c_str(); }
  std::size_t fiber_stack_size() const override { return options_.stack_size; }

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
  const std::vector<std::vector<int>>& victim_groups(std::size_t i) const;

 private:
  struct Worker;

  void worker_main(Worker& w);
  Task* find_work(Worker& w);
  Task* take_global(Worker& w, bool batch);
  Task* steal(Worker& w, bool with_runnext);
  Task* steal_runnext(Worker& victim);
  Task* spin_for_work(Worker& w);
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
  // Wakes a parked worker if there is one and nobody is looking for work.
  void wake_if_idle();
  [[gnu::noinline]] void overflow_to_global(Worker& w, Task* task);
  // True when no other worker is idle or spinning, i.e. none would steal now.
  bool nobody_would_steal() const;
  void wake_idle_worker();
  void stop_spinning(Worker& w);
  Worker* current_worker() const;
  bool periodic_work_due(const Worker& w, std::uint32_t tick) const;
  void give_back_credit(Worker& w);
  void give_back_work(std::int64_t n);
  bool any_queued_work() const;

  SchedulerOptions options_;
  Topology topology_;
  std::vector<std::unique_ptr<Worker>> workers_;

  // lock_ guards global_, idle_ and the shutdown handshake. The atomic mirrors let
  // hot paths skip the lock when there is nothing to do.
  mutable std::mutex lock_;
  detail::TaskList global_;
  std::atomic<std::size_t> global_size_{0};
  std::vector<int> idle_;            // parked workers, by index
  std::atomic<int> idle_count_{0};
  std::atomic<int> spinning_{0};     // workers looking for work without parking
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
};

}  // namespace spindle
