// Channel<T>: a bounded multi-producer multi-consumer queue between fibers and
// threads (Go's chan T). Capacity 0 makes it unbuffered: every send meets a
// receive (a rendezvous).
//
//   spindle::Channel<Job> jobs(16);
//   producer:  jobs.send(std::move(job)); ...; jobs.close();
//   consumer:  while (auto job = jobs.recv()) run(*job);
//
// Closing: receivers first drain what is buffered, then recv() returns nullopt.
// Sending on a closed channel is an error, as in Go and Rust: send() throws
// ChannelClosed (Go panics; Rust returns Err); the non-throwing try_send() and
// send_for() report ChannelStatus::kClosed instead and leave the value with the
// caller. close() wakes every blocked sender (which then throws) and receiver.
//
// T needs only to be move-constructible (and move-assignable for the variants that
// give the value back on failure: try_send, send_for, send_until, and send with a
// stop_token). Several operations can be waited on at once with spindle::select
// (sync/select.h).
//
// Cancellation: send, recv and their timed forms have overloads taking a
// std::stop_token; a stop requested on it (before or during the wait) ends the
// wait. send(value, stop) returns ChannelStatus::kStopped (the value stays with the
// caller) and never throws; recv(stop) returns nullopt (check the token, or
// closed(), to tell why). An operation that can complete at once completes even if
// a stop was requested.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <utility>
#include <vector>

#include "spindle/fibers/spin_lock.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sync/fault_point.h"
#include "spindle/sync/misuse.h"
#include "spindle/sync/wait_list.h"

namespace spindle {

class ChannelClosed : public std::logic_error {
 public:
  ChannelClosed() : std::logic_error("spindle::Channel: send on a closed channel") {}
};

enum class ChannelStatus : unsigned char {
  kOk,
  kWouldBlock,  // try_*: full (send) or empty (recv)
  kTimedOut,    // *_for / *_until
  kClosed,
  kStopped,     // the forms taking a std::stop_token: a stop was requested
};

namespace detail {

// One party blocked on a channel: a sender (its value in *slot, taken by the
// receiver) or a receiver (*slot filled by the sender). Lives on the waiter's
// stack; `fired`/`closed` are written by the completing party before notify().
struct ChanNodeBase {
  ChanNodeBase* next = nullptr;
  ChanNodeBase* prev = nullptr;
  bool queued = false;
  bool fired = false;      // the operation was completed by the other side
  bool closed = false;     // ...because the channel closed
  bool exclusive = false;  // no deadline, no stop token, no select: notify() cannot
                           // fail, so it may run after the channel lock is released
  Waiter* waiter = nullptr;
};
template <class T>
struct ChanNode : ChanNodeBase {
  std::optional<T>* slot = nullptr;
};

template <class T, class F>
class RecvCase;
template <class T, class F>
class SendCase;

}  // namespace detail

template <class T>
class Channel {
 public:
  explicit Channel(std::size_t capacity = 0) : capacity_(capacity), buffer_(capacity) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  // Dies if fibers or threads are blocked on it. Buffered values are destroyed.
  ~Channel() {
    std::lock_guard<detail::SpinLock> g(lock_);
    if (!sendq_.empty() || !recvq_.empty()) {
      detail::sync_misuse("Channel", this, "destroyed while fibers or threads are blocked on it");
    }
  }

  // Blocks the calling fiber (parked) or thread until the value is buffered or
  // handed to a receiver. Throws ChannelClosed if the channel is or gets closed.
  void send(T value) {
    std::optional<T> v(std::move(value));
    if (send_wait(v, std::nullopt) == ChannelStatus::kClosed) throw ChannelClosed();
  }
  // Never blocks. kOk, kWouldBlock or kClosed; `value` is moved from only on kOk.
  ChannelStatus try_send(T&& value) { return give_back(value, [&](std::optional<T>& v) { return try_send_opt(v); }); }
  ChannelStatus try_send(const T& value) { return try_send(T(value)); }
  // As send(), giving up at `deadline`: kOk, kTimedOut or kClosed (no throw);
  // `value` is moved from only on kOk.
  ChannelStatus send_until(T&& value, Clock::time_point deadline) {
    return give_back(value, [&](std::optional<T>& v) { return send_wait(v, deadline); });
  }
  template <class Rep, class Period>
  ChannelStatus send_for(T&& value, std::chrono::duration<Rep, Period> d) {
    return send_until(std::move(value), detail::deadline_after(d));
  }

  // Cancellable send: as send(), but returns kOk, kClosed (no throw) or kStopped;
  // `value` is moved from only on kOk.
  ChannelStatus send(T&& value, const std::stop_token& stop) {
    return give_back(value, [&](std::optional<T>& v) { return send_wait(v, std::nullopt, stop); });
  }
  ChannelStatus send(const T& value, const std::stop_token& stop) {
    T copy(value);
    return send(std::move(copy), stop);
  }
  // As send_until(), also ending on a stop: kOk, kTimedOut, kClosed or kStopped.
  ChannelStatus send_until(T&& value, Clock::time_point deadline, const std::stop_token& stop) {
    return give_back(value, [&](std::optional<T>& v) { return send_wait(v, deadline, stop); });
  }
  template <class Rep, class Period>
  ChannelStatus send_for(T&& value, std::chrono::duration<Rep, Period> d, const std::stop_token& stop) {
    return send_until(std::move(value), detail::deadline_after(d), stop);
  }

  // Blocks the calling fiber (parked) or thread until a value arrives; nullopt once
  // the channel is closed and drained.
  std::optional<T> recv() { return recv_wait(std::nullopt); }
  // Cancellable recv: as recv(), also nullopt when a stop is requested on `stop`.
  std::optional<T> recv(const std::stop_token& stop) { return recv_wait(std::nullopt, stop); }
  std::optional<T> recv_until(Clock::time_point deadline, const std::stop_token& stop) {
    return recv_wait(deadline, stop);
  }
  template <class Rep, class Period>
  std::optional<T> recv_for(std::chrono::duration<Rep, Period> d, const std::stop_token& stop) {
    return recv_wait(detail::deadline_after(d), stop);
  }
  // Never blocks. nullopt if nothing is ready (see closed() to tell why).
  std::optional<T> try_recv() {
    std::optional<T> out;
    Waiter* deferred = nullptr;
    {
      std::lock_guard<detail::SpinLock> g(lock_);
      recv_locked(out, deferred);
    }
    if (deferred != nullptr) deferred->notify_sole();
    return out;
  }
  // As recv(), giving up at `deadline`: nullopt on timeout or when closed and drained.
  std::optional<T> recv_until(Clock::time_point deadline) { return recv_wait(deadline); }
  template <class Rep, class Period>
  std::optional<T> recv_for(std::chrono::duration<Rep, Period> d) {
    return recv_wait(detail::deadline_after(d));
  }

  // Closes the channel; true for the call that closed it. Never blocks.
  bool close() {
    SPINDLE_FAULT_POINT();
    std::lock_guard<detail::SpinLock> g(lock_);
    if (closed_) return false;
    closed_ = true;
    // Blocked receivers only exist while the buffer is empty: they all see closed.
    // Notify under the lock: timed and select waiters withdraw under it.
    for (auto* q : {&recvq_, &sendq_}) {
      while (detail::ChanNodeBase* n = q->pop_front()) {
        n->fired = n->closed = true;
        if (!n->waiter->notify()) n->fired = n->closed = false;
      }
    }
    return true;
  }

  bool closed() const {
    std::lock_guard<detail::SpinLock> g(lock_);
    return closed_;
  }
  // Buffered values; racy.
  std::size_t size() const {
    std::lock_guard<detail::SpinLock> g(lock_);
    return count_;
  }
  std::size_t capacity() const { return capacity_; }

 private:
  template <class, class>
  friend class detail::RecvCase;
  template <class, class>
  friend class detail::SendCase;
  using Node = detail::ChanNode<T>;

  template <class Op>
  static ChannelStatus give_back(T& value, Op op) {
    std::optional<T> v(std::move(value));
    const ChannelStatus st = op(v);
    if (st != ChannelStatus::kOk) value = std::move(*v);
    return st;
  }

  ChannelStatus try_send_opt(std::optional<T>& v) {
    Waiter* deferred = nullptr;
    ChannelStatus st;
    {
      std::lock_guard<detail::SpinLock> g(lock_);
      st = send_locked(v, deferred);
    }
    if (deferred != nullptr) deferred->notify_sole();
    return st;
  }

  // Completes `n` (popped from a queue, under lock_): true if its waiter took it.
  // An exclusive waiter (no deadline, not in a select: nothing else can end its
  // wait) is returned through `deferred`, to notify_sole() after unlocking.
  static bool complete(detail::ChanNodeBase* n, Waiter*& deferred) {
    n->fired = true;
    if (n->exclusive) {
      deferred = n->waiter;
      return true;
    }
    if (n->waiter->notify()) return true;
    n->fired = false;  // it timed out or another select case won
    return false;
  }

  // Under lock_. Moves *v out only on kOk.
  ChannelStatus send_locked(std::optional<T>& v, Waiter*& deferred) {
    if (closed_) return ChannelStatus::kClosed;
    while (auto* r = static_cast<Node*>(recvq_.pop_front())) {
      r->slot->emplace(std::move(*v));
      if (complete(r, deferred)) {
        v.reset();
        return ChannelStatus::kOk;
      }
      v.emplace(std::move(**r->slot));
      r->slot->reset();
    }
    if (count_ < capacity_) {
      buffer_[(head_ + count_) % capacity_].emplace(std::move(*v));
      ++count_;
      v.reset();
      return ChannelStatus::kOk;
    }
    return ChannelStatus::kWouldBlock;
  }

  // Under lock_. Fills `out` on kOk.
  ChannelStatus recv_locked(std::optional<T>& out, Waiter*& deferred) {
    if (count_ > 0) {
      out.emplace(std::move(*buffer_[head_]));
      buffer_[head_].reset();
      head_ = (head_ + 1) % capacity_;
      --count_;
      // A slot came free: move the oldest blocked sender's value into it.
      while (auto* s = static_cast<Node*>(sendq_.pop_front())) {
        std::optional<T>& dst = buffer_[(head_ + count_) % capacity_];
        dst.emplace(std::move(**s->slot));
        s->slot->reset();
        if (complete(s, deferred)) {
          ++count_;
          break;
        }
        s->slot->emplace(std::move(*dst));
        dst.reset();
      }
      return ChannelStatus::kOk;
    }
    while (auto* s = static_cast<Node*>(sendq_.pop_front())) {
      out.emplace(std::move(**s->slot));
      s->slot->reset();
      if (complete(s, deferred)) return ChannelStatus::kOk;
      s->slot->emplace(std::move(*out));
      out.reset();
    }
    return closed_ ? ChannelStatus::kClosed : ChannelStatus::kWouldBlock;
  }

  // Enqueues `n` into `q` (lock held by `lk`) and waits; returns with `lk` released.
  // On a timeout or stop the node is withdrawn, or its completer saw notify() fail
  // and undid what it did.
  WakeReason park(std::unique_lock<detail::SpinLock>& lk, detail::WaitList<detail::ChanNodeBase>& q, Node& n,
                  const char* kind, std::optional<Clock::time_point> deadline, const std::stop_token& stop) {
    SPINDLE_FAULT_POINT();
    Waiter w;
    w.object = this;
    w.kind = kind;
    n.waiter = &w;
    n.exclusive = !deadline.has_value() && !stop.stop_possible();
    q.push_back(&n);
    // Release last; nothing on this stack is touched after it (see park_in).
    const WakeReason r = w.wait([&lk] {
      lk.release()->unlock();
      return true;
    }, deadline, stop);
    if (r == WakeReason::kNotified) return r;
    std::lock_guard<detail::SpinLock> g(lock_);
    if (n.queued) q.remove(&n);
    return r;
  }

  ChannelStatus send_wait(std::optional<T>& v, std::optional<Clock::time_point> deadline,
                          const std::stop_token& stop = {}) {
    Waiter* deferred = nullptr;
    std::unique_lock<detail::SpinLock> lk(lock_);
    const ChannelStatus st = send_locked(v, deferred);
    if (st != ChannelStatus::kWouldBlock) {
      lk.unlock();
      if (deferred != nullptr) deferred->notify_sole();
      return st;
    }
    Node n;
    n.slot = &v;
    switch (park(lk, sendq_, n, "channel send", deadline, stop)) {
      case WakeReason::kTimedOut:
        return ChannelStatus::kTimedOut;
      case WakeReason::kStopped:
        return ChannelStatus::kStopped;
      case WakeReason::kNotified:
        break;
    }
    return n.closed ? ChannelStatus::kClosed : ChannelStatus::kOk;
  }

  std::optional<T> recv_wait(std::optional<Clock::time_point> deadline, const std::stop_token& stop = {}) {
    std::optional<T> out;
    Waiter* deferred = nullptr;
    std::unique_lock<detail::SpinLock> lk(lock_);
    if (recv_locked(out, deferred) != ChannelStatus::kWouldBlock) {
      lk.unlock();
      if (deferred != nullptr) deferred->notify_sole();
      return out;
    }
    Node n;
    n.slot = &out;
    park(lk, recvq_, n, "channel recv", deadline, stop);
    return out;  // filled by a sender; empty on timeout, stop or close
  }

  const std::size_t capacity_;
  mutable detail::SpinLock lock_;  // guards everything below
  std::vector<std::optional<T>> buffer_;  // ring: count_ values from head_
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  bool closed_ = false;
  // Blocked parties. Invariants: recvq_ is non-empty only while the buffer is empty
  // and the channel open; sendq_ only while the buffer is full and the channel open.
  detail::WaitList<detail::ChanNodeBase> sendq_;
  detail::WaitList<detail::ChanNodeBase> recvq_;
};

}  // namespace spindle
