#include "spindle/sync/select.h"

#include <algorithm>
#include <cstdint>

#include "spindle/sync/fault_point.h"

namespace spindle::detail {
namespace {

// Per-thread xorshift: only fairness depends on it, not correctness.
std::uint64_t next_random() {
  thread_local std::uint64_t s = 0x9E3779B97F4A7C15ull ^ reinterpret_cast<std::uintptr_t>(&s);
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

}  // namespace

std::size_t select_impl(SelectCase** cases, std::size_t n, std::optional<Clock::time_point> deadline,
                        bool has_default, const std::stop_token& stop, std::size_t* scratch, bool* closed,
                        bool* stopped) {
  // Poll order: a random permutation, so that of several ready cases each is
  // equally likely to win.
  std::size_t* order = scratch;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t j = next_random() % (i + 1);
    order[i] = order[j];
    order[j] = i;
  }
  auto finish = [&](std::size_t k, ChannelStatus st, Waiter* deferred) {
    if (deferred != nullptr) deferred->notify_sole();
    *closed = st == ChannelStatus::kClosed;
    return k;
  };
  // Pass 1: each channel on its own.
  for (std::size_t i = 0; i < n; ++i) {
    SelectCase* c = cases[order[i]];
    Waiter* deferred = nullptr;
    c->lock();
    const ChannelStatus st = c->try_locked(deferred);
    c->unlock();
    if (st != ChannelStatus::kWouldBlock) return finish(order[i], st, deferred);
  }
  if (stop.stop_requested()) {
    *stopped = true;
    return n;
  }
  if (has_default) return n;
  if (n == 0) {
    // Only a timeout and/or a stop: wait for it.
    Waiter w;
    w.kind = "select";
    if (deadline || stop.stop_possible()) {
      *stopped = w.wait([] { return true; }, deadline, stop) == WakeReason::kStopped;
    }
    return n;
  }
  SPINDLE_FAULT_POINT();
  // Pass 2: lock every distinct channel, in address order (no lock-order deadlock
  // between concurrent selects), try again, then queue on all of them.
  std::size_t* locks = scratch + n;
  for (std::size_t i = 0; i < n; ++i) locks[i] = i;
  std::sort(locks, locks + n, [&](std::size_t a, std::size_t b) { return cases[a]->channel() < cases[b]->channel(); });
  std::size_t distinct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (distinct == 0 || cases[locks[distinct - 1]]->channel() != cases[locks[i]]->channel()) {
      locks[distinct++] = locks[i];
    }
  }
  auto lock_all = [&] {
    for (std::size_t i = 0; i < distinct; ++i) cases[locks[i]]->lock();
  };
  auto unlock_all = [&] {
    for (std::size_t i = distinct; i-- > 0;) cases[locks[i]]->unlock();
  };
  lock_all();
  for (std::size_t i = 0; i < n; ++i) {
    SelectCase* c = cases[order[i]];
    Waiter* deferred = nullptr;
    const ChannelStatus st = c->try_locked(deferred);
    if (st != ChannelStatus::kWouldBlock) {
      unlock_all();
      return finish(order[i], st, deferred);
    }
  }
  Waiter w;
  w.kind = "select";
  for (std::size_t i = 0; i < n; ++i) cases[i]->enqueue_locked(&w);
  // Every completer notifies a select waiter under its channel's lock (select
  // nodes are never `exclusive`), and the one whose notify() succeeds leaves its
  // node fired. So after waking, taking each channel's lock in turn both withdraws
  // the other nodes safely and finds the single fired one.
  const WakeReason r = w.wait([&] {
    unlock_all();
    return true;
  }, deadline, stop);
  std::size_t winner = n;
  for (std::size_t i = 0; i < n; ++i) {
    SelectCase* c = cases[i];
    c->lock();
    c->dequeue_locked();
    if (c->fired()) winner = i;
    c->unlock();
  }
  *closed = false;  // a closed channel shows through the node (SendCase::run, empty RecvCase value)
  // No case fired: our deadline or the stop ended the wait (a completer whose
  // notify() lost to them undid its work).
  *stopped = winner == n && r == WakeReason::kStopped;
  return winner;
}

}  // namespace spindle::detail
