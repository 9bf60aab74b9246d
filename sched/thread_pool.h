// ThreadPool: the simple baseline executor ("compute"). N unpinned threads share
// one mutex-protected FIFO; timers live in one heap under the same mutex. Fewer
// moving parts than Scheduler, and no locality: compare against it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "spindle/sched/executor.h"
#include "spindle/sched/task_list.h"
#include "spindle/sched/timer_heap.h"

namespace spindle {

class ThreadPool final : public Executor {
 public:
  // `threads` == 0 means std::thread::hardware_concurrency(). Throws
  // std::system_error naming the thread if one cannot be created (those already
  // started are stopped and joined first).
  explicit ThreadPool(std::size_t threads = 0, std::string name = "pool");
  // Same shutdown contract as Scheduler: blocks until every fiber spawned here has
  // finished, then joins the threads.
  ~ThreadPool() override;

  void submit(Task* task, Placement placement = Placement::kBack) override;
  void add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) override;
  void on_work_started() override;
  void on_work_finished() noexcept override;
  const char* name() const override { return name_.c_str(); }
  std::size_t thread_count() const { return threads_.size(); }

 private:
  void thread_main();

  std::string name_;
  std::mutex lock_;
  std::condition_variable wake_;
  detail::TaskList queue_;      // guarded by lock_
  detail::TimerHeap timers_;    // guarded by lock_
  std::int64_t outstanding_ = 0;  // guarded by lock_
  bool stopping_ = false;       // guarded by lock_
  bool shutdown_ = false;       // guarded by lock_
  std::vector<std::thread> threads_;
};

}  // namespace spindle
