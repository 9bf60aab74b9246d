// TimerHeap: pending timers ordered by deadline. Entries are values (task, tag,
// deadline), never pointers into a waiter, so a timer that outlives the wait it was
// set for is harmless: the task sees a stale tag and ignores it. Steady-state adds
// reuse the vector's capacity and allocate nothing. Not synchronised.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "spindle/sched/executor.h"

namespace spindle::detail {

class TimerHeap {
 public:
  struct Entry {
    Clock::time_point deadline;
    Task* task;
    std::uint64_t tag;
  };

  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  Clock::time_point next_deadline() const { return heap_.front().deadline; }

  void add(Task* task, std::uint64_t tag, Clock::time_point deadline) {
    heap_.push_back({deadline, task, tag});
    std::push_heap(heap_.begin(), heap_.end(), later);
  }

  // Removes every entry due at `now` and calls fn(entry) for each, in deadline order.
  template <class Fn>
  std::size_t fire_due(Clock::time_point now, Fn&& fn) {
    std::size_t n = 0;
    while (!heap_.empty() && heap_.front().deadline <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      Entry e = heap_.back();
      heap_.pop_back();
      fn(e);
      ++n;
    }
    return n;
  }

 private:
  static bool later(const Entry& a, const Entry& b) { return a.deadline > b.deadline; }
  std::vector<Entry> heap_;
};

}  // namespace spindle::detail
