// ManualExecutor: runs tasks only when told to, on the calling thread. The base of
// deterministic tests: nothing happens between run_next() calls.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spindle/sched/executor.h"
#include "spindle/sched/task_list.h"
#include "spindle/sched/timer_heap.h"

namespace spindle {

// Not thread-safe: submit, add_timer and the run calls must come from one thread
// (or be serialised by the caller). Timers use the real steady clock and fire
// inside run_next()/run_all() once due; run_all() does not wait for future ones.
class ManualExecutor final : public Executor {
 public:
  ManualExecutor() = default;
  // Tasks still queued are dropped (not run).
  ~ManualExecutor() override = default;

  void submit(Task* task, Placement placement = Placement::kBack) override;
  void add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) override;
  const char* name() const override { return "manual"; }

  // Fires due timers, then runs the oldest queued task. False if none was queued.
  bool run_next();
  // Runs until the queue is empty, including tasks submitted meanwhile. Returns
  // how many ran.
  std::size_t run_all();

  std::size_t pending() const { return queue_.size(); }
  std::size_t pending_timers() const { return timers_.size(); }

 private:
  detail::TaskList queue_;
  detail::TimerHeap timers_;
};

}  // namespace spindle
