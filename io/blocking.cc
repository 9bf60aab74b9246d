#include "spindle/io/blocking.h"

#include <thread>

namespace spindle {

BlockingPool::BlockingPool(std::size_t max_threads, std::chrono::milliseconds idle_timeout)
    : max_threads_(max_threads == 0 ? 1 : max_threads), idle_timeout_(idle_timeout) {}

BlockingPool::~BlockingPool() {
  std::unique_lock<std::mutex> lk(lock_);
  stopping_ = true;
  work_.notify_all();
  exited_.wait(lk, [this] { return threads_ == 0; });
}

BlockingPool& BlockingPool::default_pool() {
  static BlockingPool* pool = new BlockingPool();  // never destroyed: calls may run at exit
  return *pool;
}

std::size_t BlockingPool::thread_count() const {
  std::lock_guard<std::mutex> lk(lock_);
  return threads_;
}

void BlockingPool::submit(Job* job) {
  std::lock_guard<std::mutex> lk(lock_);
  job->next = nullptr;
  (tail_ != nullptr ? tail_->next : head_) = job;
  tail_ = job;
  if (idle_ > 0) {
    work_.notify_one();
  } else if (threads_ < max_threads_) {
    ++threads_;
    std::thread([this] { thread_main(); }).detach();
  }
}

void BlockingPool::finish(Job* job) {
  // Read before the exchange: once the caller sees kDone it may return and its
  // frame (the job, the waiter) go away. If it parked, it waits for notify().
  Waiter* w = job->waiter;
  if (job->state.exchange(kDone, std::memory_order_acq_rel) == kParked) w->notify();
}

void BlockingPool::thread_main() {
  std::unique_lock<std::mutex> lk(lock_);
  for (;;) {
    while (head_ == nullptr && !stopping_) {
      ++idle_;
      const bool woke = work_.wait_for(lk, idle_timeout_, [this] { return head_ != nullptr || stopping_; });
      --idle_;
      if (!woke) break;
    }
    if (head_ == nullptr) break;  // idle too long, or stopping with nothing queued
    Job* job = head_;
    head_ = job->next;
    if (head_ == nullptr) tail_ = nullptr;
    lk.unlock();
    job->invoke(job);
    finish(job);
    lk.lock();
  }
  --threads_;
  exited_.notify_all();
}

}  // namespace spindle
