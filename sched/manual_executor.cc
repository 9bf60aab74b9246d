#include "spindle/sched/manual_executor.h"

namespace spindle {

void ManualExecutor::submit(Task* task, Placement placement) {
  // kNext has no meaning without workers: FIFO keeps runs predictable.
  (void)placement;
  queue_.push_back(task);
}

void ManualExecutor::add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) {
  timers_.add(task, tag, deadline);
}

bool ManualExecutor::run_next() {
  if (!timers_.empty()) {
    timers_.fire_due(Clock::now(), [](const detail::TimerHeap::Entry& e) { e.task->timer_expired(e.task, e.tag); });
  }
  Task* t = queue_.pop_front();
  if (t == nullptr) return false;
  Executor* previous = Executor::current();
  set_current(this);
  t->run(t);
  set_current(previous);
  return true;
}

std::size_t ManualExecutor::run_all() {
  std::size_t n = 0;
  while (run_next()) ++n;
  return n;
}

}  // namespace spindle
