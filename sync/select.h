// select: wait on several channel operations at once; exactly one proceeds (Go's
// select statement).
//
//   std::size_t i = spindle::select(
//       spindle::recv_case(results, [&](std::optional<int> v) { ... }),  // nullopt: closed
//       spindle::send_case(jobs, job, [&] { ... }),                         // job was sent
//       spindle::timeout_case(10ms, [&] { ... }));                          // or default_case
//   // i: the position of the case that ran (0, 1 or 2)
//
// Blocks the calling fiber (parked) or thread until one case can proceed, unless
// there is a default_case (then never blocks) or a timeout_case (then at most until
// its deadline). A stop_case(token, fn) makes the select cancellable: if no channel
// case can proceed at once, a stop requested on `token` (before or during the
// wait) runs fn() and select returns its position, like Go's `case <-ctx.Done()`.
// A ready channel case wins over a stop already requested; a stop wins over
// default_case. Of several ready cases one is picked at random, so no case starves.
// A recv_case on a closed, drained channel is ready and gets nullopt; a send_case
// on a closed channel makes select throw ChannelClosed (as send() does). A value
// in a send_case that did not run is destroyed with the case.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "spindle/sync/channel.h"

namespace spindle {
namespace detail {

// What select() needs from a channel case, type-erased.
class SelectCase {
 public:
  virtual const void* channel() const = 0;
  virtual void lock() = 0;
  virtual void unlock() = 0;
  // Channel locked. Tries the operation now: kOk, kWouldBlock or kClosed.
  virtual ChannelStatus try_locked(Waiter*& deferred) = 0;
  // Channel locked. Queue / withdraw this case's node (waiting on `w`).
  virtual void enqueue_locked(Waiter* w) = 0;
  virtual void dequeue_locked() = 0;
  // Channel locked, after the wait: did the other side complete this case?
  virtual bool fired() const = 0;
  // Runs the callback with the outcome (`closed`: the channel was closed).
  virtual void run(bool closed) = 0;

 protected:
  ~SelectCase() = default;
};

template <class T, class F>
class RecvCase final : public SelectCase {
 public:
  RecvCase(Channel<T>& ch, F fn) : ch_(ch), fn_(std::move(fn)) {}
  const void* channel() const override { return &ch_; }
  void lock() override { ch_.lock_.lock(); }
  void unlock() override { ch_.lock_.unlock(); }
  ChannelStatus try_locked(Waiter*& deferred) override { return ch_.recv_locked(value_, deferred); }
  void enqueue_locked(Waiter* w) override {
    node_.waiter = w;
    node_.slot = &value_;
    ch_.recvq_.push_back(&node_);
  }
  void dequeue_locked() override {
    if (node_.queued) ch_.recvq_.remove(&node_);
  }
  bool fired() const override { return node_.fired; }
  void run(bool) override { fn_(std::move(value_)); }

 private:
  Channel<T>& ch_;
  F fn_;
  std::optional<T> value_;
  ChanNode<T> node_;
};

template <class T, class F>
class SendCase final : public SelectCase {
 public:
  template <class U>
  SendCase(Channel<T>& ch, U&& value, F fn) : ch_(ch), value_(std::forward<U>(value)), fn_(std::move(fn)) {}
  const void* channel() const override { return &ch_; }
  void lock() override { ch_.lock_.lock(); }
  void unlock() override { ch_.lock_.unlock(); }
  ChannelStatus try_locked(Waiter*& deferred) override { return ch_.send_locked(value_, deferred); }
  void enqueue_locked(Waiter* w) override {
    node_.waiter = w;
    node_.slot = &value_;
    ch_.sendq_.push_back(&node_);
  }
  void dequeue_locked() override {
    if (node_.queued) ch_.sendq_.remove(&node_);
  }
  bool fired() const override { return node_.fired; }
  void run(bool closed) override {
    if (closed || node_.closed) throw ChannelClosed();
    fn_();
  }

 private:
  Channel<T>& ch_;
  std::optional<T> value_;
  F fn_;
  ChanNode<T> node_;
};

template <class F>
struct TimeoutCase {
  Clock::time_point deadline;
  F fn;
};
template <class F>
struct DefaultCase {
  F fn;
};
template <class F>
struct StopCase {
  std::stop_token token;
  F fn;
};

template <class C>
inline constexpr bool kIsChannelCase = std::is_base_of_v<SelectCase, std::remove_cvref_t<C>>;
template <class C>
struct IsTimeout : std::false_type {};
template <class F>
struct IsTimeout<TimeoutCase<F>> : std::true_type {};
template <class C>
struct IsDefault : std::false_type {};
template <class F>
struct IsDefault<DefaultCase<F>> : std::true_type {};
template <class C>
struct IsStop : std::false_type {};
template <class F>
struct IsStop<StopCase<F>> : std::true_type {};

// The protocol (sync/select.cc). Returns the position in `cases` of the case that
// proceeded, with `*closed` telling whether it did because its channel closed;
// `n` if the deadline passed, a stop was requested on `stop` (then `*stopped` is
// set) or, with `has_default`, nothing was ready. `scratch` has room for 2n entries.
std::size_t select_impl(SelectCase** cases, std::size_t n, std::optional<Clock::time_point> deadline,
                        bool has_default, const std::stop_token& stop, std::size_t* scratch, bool* closed,
                        bool* stopped);

}  // namespace detail

// Receives from `ch`; `fn(std::optional<T>)` gets the value, or nullopt if the
// channel is closed and drained.
template <class T, class F>
detail::RecvCase<T, F> recv_case(Channel<T>& ch, F fn) {
  return {ch, std::move(fn)};
}
// Sends `value` on `ch`, then runs `fn()`.
template <class T, class U, class F>
detail::SendCase<T, F> send_case(Channel<T>& ch, U&& value, F fn) {
  return {ch, std::forward<U>(value), std::move(fn)};
}
// Runs `fn()` if no other case proceeded within `d` (measured from this call).
template <class Rep, class Period, class F>
detail::TimeoutCase<F> timeout_case(std::chrono::duration<Rep, Period> d, F fn) {
  return {detail::deadline_after(d), std::move(fn)};
}
// Runs `fn()` at once if no other case is ready: select() then never blocks.
template <class F>
detail::DefaultCase<F> default_case(F fn) {
  return {std::move(fn)};
}
// Runs `fn()` if a stop is requested on `token` before a channel case proceeds
// (at once if it already was and no channel case is ready).
template <class F>
detail::StopCase<F> stop_case(std::stop_token token, F fn) {
  return {std::move(token), std::move(fn)};
}

template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t kN = sizeof...(Cases);
  static_assert(kN > 0, "select needs at least one case");
  detail::SelectCase* chans[kN] = {};
  std::size_t position[kN] = {};  // argument position of chans[i]
  std::size_t scratch[2 * kN];
  std::size_t n = 0, timeout_pos = kN, default_pos = kN, stop_pos = kN;
  std::optional<Clock::time_point> deadline;
  std::stop_token stop;
  bool has_default = false;
  std::size_t pos = 0;
  auto collect = [&](auto& c) {
    using C = std::remove_cvref_t<decltype(c)>;
    if constexpr (detail::kIsChannelCase<C>) {
      chans[n] = &c;
      position[n++] = pos;
    } else if constexpr (detail::IsTimeout<C>::value) {
      deadline = c.deadline;
      timeout_pos = pos;
    } else if constexpr (detail::IsStop<C>::value) {
      stop = c.token;
      stop_pos = pos;
    } else {
      static_assert(detail::IsDefault<C>::value,
                    "select: not a case (use recv_case, send_case, timeout_case, default_case, stop_case)");
      has_default = true;
      default_pos = pos;
    }
    ++pos;
  };
  (collect(cases), ...);
  bool closed = false, stopped = false;
  const std::size_t k = detail::select_impl(chans, n, deadline, has_default, stop, scratch, &closed, &stopped);
  if (k < n) {
    chans[k]->run(closed);
    return position[k];
  }
  const std::size_t special = stopped ? stop_pos : has_default ? default_pos : timeout_pos;
  pos = 0;
  auto run_special = [&](auto& c) {
    using C = std::remove_cvref_t<decltype(c)>;
    if constexpr (!detail::kIsChannelCase<C>) {
      if (pos == special) c.fn();
    }
    ++pos;
  };
  (run_special(cases), ...);
  return special;
}

}  // namespace spindle
