// WaitList: the intrusive FIFO of parked parties behind every sync primitive.
//
// A node is any type with `next`, `prev` and `queued` members (Waiter has them;
// channels use their own nodes that point to a Waiter). The list never owns its
// nodes: each lives on the stack of the party waiting in it. Every operation must
// run under the primitive's queue lock (a detail::SpinLock, see fibers/spin_lock.h).
//
// park_in() is the one waiting pattern the primitives share:
//   under the queue lock, enqueue; wait, with the park callback releasing the lock;
//   on a timeout or a stop request, take the lock again and withdraw the node if it
//   is still queued.
// A notifier that can race a timeout or a stop must therefore notify *under the
// queue lock*: the party whose wait ended otherwise cannot withdraw (and its Waiter
// cannot vanish) until the notifier has let go of the lock. Cancellation thus needs
// nothing of the primitives beyond passing the std::stop_token down: the Waiter
// ends the wait (fibers/waiter.h) and this function withdraws it.
//
// Destroy-after-wait: a party whose wait returned may destroy the primitive at
// once, even while the call that woke it is still returning. Every notifier's last
// touch of the primitive is releasing its queue lock (what it does afterwards
// touches only Waiters), and every primitive's destructor takes that lock first,
// so destruction waits for the notifier to let go. Event and WaitGroup, whose
// waits can also end on an atomic counter without the lock, take it once more
// before returning (sync_with_notifier). Mutex wakes only after releasing its queue
// lock, and its lock word is the last thing unlock() touches. Pinned by the
// *LifetimeTest tests (sync/lifetime_rounds.h), under ASan with fault injection.
#pragma once

#include <mutex>
#include <optional>
#include <stop_token>

#include "spindle/fibers/spin_lock.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/fibers/waiter.h"

namespace spindle::detail {

template <class Node>
class WaitList {
 public:
  bool empty() const { return head_ == nullptr; }
  Node* front() const { return head_; }

  void push_back(Node* n) {
    n->next = nullptr;
    n->prev = tail_;
    if (tail_ != nullptr) tail_->next = n; else head_ = n;
    tail_ = n;
    n->queued = true;
  }
  void push_front(Node* n) {
    n->prev = nullptr;
    n->next = head_;
    if (head_ != nullptr) head_->prev = n; else tail_ = n;
    head_ = n;
    n->queued = true;
  }
  // Puts `n` just before `pos` (at the back when `pos` is null).
  void insert_before(Node* pos, Node* n) {
    if (pos == nullptr) return push_back(n);
    n->next = pos;
    n->prev = pos->prev;
    if (pos->prev != nullptr) pos->prev->next = n; else head_ = n;
    pos->prev = n;
    n->queued = true;
  }
  // Null when empty.
  Node* pop_front() {
    Node* n = head_;
    if (n != nullptr) remove(n);
    return n;
  }
  void remove(Node* n) {
    if (n->prev != nullptr) n->prev->next = n->next; else head_ = static_cast<Node*>(n->next);
    if (n->next != nullptr) n->next->prev = n->prev; else tail_ = static_cast<Node*>(n->prev);
    n->next = n->prev = nullptr;
    n->queued = false;
  }
  // Moves every node into a detached chain (linked through `next`) and returns its
  // head; the nodes are marked unqueued. Read `next` before notifying a node: a
  // notified party may be gone at once.
  Node* take_all() {
    Node* h = head_;
    for (Node* n = h; n != nullptr; n = static_cast<Node*>(n->next)) n->queued = false;
    head_ = tail_ = nullptr;
    return h;
  }

 private:
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
};

using WaiterList = WaitList<Waiter>;

// Lets a waiter return only once the notifier is done with the primitive: a
// notifier that works under `lock` touches nothing after releasing it, so taking
// the lock once (after seeing the condition, or after being notified) makes it safe
// for the caller to destroy the primitive at once (a WaitGroup or Event on the
// stack, waited on and gone).
inline void sync_with_notifier(SpinLock& lock) {
  lock.lock();
  lock.unlock();
}

// Deadline of a relative timeout, rounded up so a wait never ends early.
template <class Rep, class Period>
Clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) {
  return detail::now() + std::chrono::ceil<Clock::duration>(d);  // simulated under testing/
}

// Enqueues `w` (locked by `lk`), waits, and returns with `lk` released. On a
// timeout or a stop the node has been withdrawn; if a notifier had already popped
// it but lost the race to the deadline or the stop, that notifier saw notify()
// fail and kept (or gave to someone else) whatever it meant to hand over.
inline WakeReason park_in(std::unique_lock<SpinLock>& lk, WaiterList& list, Waiter& w,
                          std::optional<Clock::time_point> deadline = std::nullopt,
                          const std::stop_token& stop = {}) {
  SpinLock& lock = *lk.mutex();
  list.push_back(&w);
  // Runs after the switch: release the lock last and touch nothing on the waiting
  // party's stack afterwards (`lk` included: unique_lock::unlock() would write its
  // owns flag after the release, when the waiter may already be running on).
  const WakeReason r = w.wait([&lk] {
    lk.release()->unlock();
    return true;
  }, deadline, stop);
  if (r != WakeReason::kNotified) {
    std::lock_guard<SpinLock> g(lock);
    if (w.queued) list.remove(&w);
  }
  return r;
}

}  // namespace spindle::detail
