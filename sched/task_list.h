// TaskList: an intrusive FIFO of Tasks linked through Task::next. Not synchronised:
// the owner (or the lock around it) serialises access.
#pragma once

#include <cstddef>

#include "spindle/sched/executor.h"

namespace spindle::detail {

class TaskList {
 public:
  bool empty() const { return head_ == nullptr; }
  std::size_t size() const { return size_; }

  void push_back(Task* t) {
    t->next = nullptr;
    if (tail_ == nullptr) {
      head_ = tail_ = t;
    } else {
      tail_->next = t;
      tail_ = t;
    }
    ++size_;
  }

  // Appends a chain first..last of `n` tasks already linked through next.
  void push_back_chain(Task* first, Task* last, std::size_t n) {
    last->next = nullptr;
    if (tail_ == nullptr) {
      head_ = first;
    } else {
      tail_->next = first;
    }
    tail_ = last;
    size_ += n;
  }

  Task* pop_front() {
    Task* t = head_;
    if (t == nullptr) return nullptr;
    head_ = t->next;
    if (head_ == nullptr) tail_ = nullptr;
    t->next = nullptr;
    --size_;
    return t;
  }

 private:
  Task* head_ = nullptr;
  Task* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace spindle::detail
