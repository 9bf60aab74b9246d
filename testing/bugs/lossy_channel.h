// PLANTED BUG (harness tests only): a bounded channel whose close() drops the last
// buffered item. Receivers should drain everything sent before close(); when the
// close lands while an item is still buffered, one is lost.
#pragma once

#include <deque>
#include <mutex>
#include <optional>

#include "spindle/fibers/spin_lock.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sched/fault_point.h"
#include "spindle/sync/wait_list.h"

namespace spindle::testing::bugs {

class LossyChannel {
 public:
  explicit LossyChannel(std::size_t capacity) : capacity_(capacity) {}

  void send(int v) {
    for (;;) {
      fault_point();
      std::unique_lock<detail::SpinLock> lk(guard_);
      if (items_.size() < capacity_) {
        items_.push_back(v);
        wake_one(receivers_);
        return;
      }
      park(lk, senders_, "LossyChannel send");
    }
  }

  std::optional<int> recv() {
    for (;;) {
      fault_point();
      std::unique_lock<detail::SpinLock> lk(guard_);
      if (!items_.empty()) {
        const int v = items_.front();
        items_.pop_front();
        wake_one(senders_);
        return v;
      }
      if (closed_) return std::nullopt;
      park(lk, receivers_, "LossyChannel recv");
    }
  }

  void close() {
    fault_point();
    std::lock_guard<detail::SpinLock> g(guard_);
    closed_ = true;
    if (!items_.empty()) items_.pop_back();  // BUG: buffered items must survive close()
    while (Waiter* w = receivers_.pop_front()) w->notify();
  }

 private:
  void park(std::unique_lock<detail::SpinLock>& lk, detail::WaiterList& list, const char* kind) {
    Waiter w;
    w.object = this;
    w.kind = kind;
    list.push_back(&w);
    w.wait([&lk] {
      lk.release()->unlock();
      return true;
    });
  }
  static void wake_one(detail::WaiterList& list) {
    if (Waiter* w = list.pop_front()) w->notify();
  }

  std::size_t capacity_;
  detail::SpinLock guard_;
  std::deque<int> items_;
  bool closed_ = false;
  detail::WaiterList senders_, receivers_;
};

}  // namespace spindle::testing::bugs
