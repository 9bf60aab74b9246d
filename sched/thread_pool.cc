#include "spindle/sched/thread_pool.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>

namespace spindle {

ThreadPool::ThreadPool(std::size_t threads, std::string name) : name_(std::move(name)) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads_.reserve(threads);
  try {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { thread_main(); });
  } catch (...) {
    // Joinable threads must not be destroyed: stop and join those that started.
    const std::size_t started = threads_.size();
    {
      std::lock_guard<std::mutex> lk(lock_);
      stopping_ = shutdown_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    try {
      throw;
    } catch (const std::system_error& e) {
      throw std::system_error(e.code(), "spindle::ThreadPool '" + name_ + "': cannot start thread " +
                                            std::to_string(started) + " of " + std::to_string(threads));
    }
  }
}

ThreadPool::~ThreadPool() {
  {
    std::unique_lock<std::mutex> lk(lock_);
    stopping_ = true;
    while (outstanding_ > 0) {
      if (!wake_.wait_for(lk, std::chrono::seconds(5), [&] { return outstanding_ <= 0; })) {
        std::fprintf(stderr, "spindle: ThreadPool '%s' is being destroyed and still waits for %lld fiber(s)\n",
                     name_.c_str(), static_cast<long long>(outstanding_));
      }
    }
    shutdown_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::on_work_started() {
  std::lock_guard<std::mutex> lk(lock_);
  if (stopping_ && Executor::current() != this) {
    throw std::logic_error("spindle: spawn on ThreadPool '" + name_ + "' after its shutdown began");
  }
  ++outstanding_;
}

void ThreadPool::on_work_finished() noexcept {
  std::lock_guard<std::mutex> lk(lock_);
  if (--outstanding_ == 0 && stopping_) wake_.notify_all();
}

// Both notify while holding lock_: a caller from outside (a fiber of another
// executor waking one of ours) must not touch wake_ after unlocking, since the
// task it queued may run and finish, and the destructor (which needs lock_ to see
// the work drained) free the pool, before a notify after the unlock would run.
void ThreadPool::submit(Task* task, Placement) {
  std::lock_guard<std::mutex> lk(lock_);
  queue_.push_back(task);
  wake_.notify_one();
}

void ThreadPool::add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) {
  std::lock_guard<std::mutex> lk(lock_);
  timers_.add(task, tag, deadline);
  wake_.notify_one();  // a sleeper may need an earlier timeout
}

void ThreadPool::thread_main() {
  set_current(this);
  std::unique_lock<std::mutex> lk(lock_);
  for (;;) {
    if (!timers_.empty()) {
      // Expired timers submit their tasks; submit takes lock_, so collect first.
      std::vector<detail::TimerHeap::Entry> due;
      timers_.fire_due(Clock::now(), [&](const detail::TimerHeap::Entry& e) { due.push_back(e); });
      if (!due.empty()) {
        lk.unlock();
        for (const auto& e : due) e.task->timer_expired(e.task, e.tag);
        lk.lock();
        continue;
      }
    }
    if (Task* t = queue_.pop_front()) {
      lk.unlock();
      t->run(t);
      lk.lock();
      continue;
    }
    if (shutdown_) break;
    if (timers_.empty()) {
      wake_.wait(lk);
    } else {
      wake_.wait_until(lk, timers_.next_deadline());
    }
  }
  set_current(nullptr);
}

}  // namespace spindle
