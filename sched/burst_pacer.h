// BurstPacer: predicts when the next burst of work from outside the pool comes,
// when bursts come at a steady pace — a game loop's main thread that submits a
// frame's jobs, sleeps until the next frame, and submits again.
//
// Why. Waking a parked worker costs tens of microseconds before it runs, more on
// a VM (bench/wake_latency: 89 us on a 2-vCPU KVM guest after 1 ms asleep), and
// a frame of ~70 us on two threads then runs mostly on the main thread. A worker
// already awake when the burst comes takes it at once. Spinning through the
// whole gap between frames buys that at a core's CPU (marl). Instead, once bursts
// have come at a steady interval, the one worker that anticipates (Scheduler::
// anticipator_) ends its park a little before the next burst is due and spins
// (as after spin_before_park) until a little after: one timed wake and a short
// spin per burst.
//
// What counts as a burst: a batch submitted from a plain thread (submit_batch,
// which spawn_many uses) that finds no worker running a task (all parked or
// spinning) — the pool's work starts there. Two
// models predict the next one: burst to burst (a loop that sleeps until its next
// frame's deadline) and from the moment the pool ran out of the last burst's work
// to the next burst (a loop that sleeps a fixed time after each frame, whose
// frames vary in length). Steady: the last kSteadyAfter samples each within a
// tolerance of their running mean (an eighth, plus 20 us), between 50 us and
// 100 ms; the steadier model wins. The window around the predicted time comes
// from the jitter seen (the running mean absolute deviation): from four times it
// (at least 30 us) before to eight times it (at least 60 us) after, each at most a
// quarter of the pace — lopsided, because bursts come late far more often and
// further than early (measured on bench/frame's loop: deviations from the
// prediction of -25 / +38 / +102 us at the 5th / 95th / 99th percentile), and
// the late side costs spinning only when the burst is late; the wake is set
// earlier by how late timed wakes have been (timer slack, the hypervisor), learnt
// from each one. The worker spins on another CPU than the one the last burst
// came from: sharing the submitter's CPU it would only take turns with it (a
// wake-up stays on the CPU it slept on when the machine's CPUs share no cache, as
// on VMs that give each vCPU its own, so two threads that met there stay there).
// A window that passes without its burst (the loop stopped,
// paused, or changed pace) forgets the pace: it must be steady again before
// anyone wakes early. So an idle Scheduler, or one fed at an irregular pace,
// never wakes early, and a stopped loop costs at most one window.
//
// Not synchronized: the Scheduler calls it with lock_ held. Times are Clock's.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

#include "spindle/sched/executor.h"

namespace spindle::detail {

// One way of predicting the next burst: the time from a reference point to the
// burst has been steady. Samples outside [kMin, kMax] or far from the running
// mean start it over.
class PaceModel {
 public:
  using Duration = Clock::duration;
  static constexpr Duration kMin = std::chrono::microseconds(50);  // shorter: spin_before_park covers it
  static constexpr Duration kMax = std::chrono::milliseconds(100);
  static constexpr int kSteadyAfter = 3;

  void add(Duration d) {
    if (d < kMin || d > kMax) {
      steady_ = 0;
      mean_ = Duration::zero();
      return;
    }
    const Duration dev = d > mean_ ? d - mean_ : mean_ - d;
    if (mean_ != Duration::zero() && dev <= mean_ / 8 + std::chrono::microseconds(20)) {
      ++steady_;
      jitter_ += (dev - jitter_) / 4;
      mean_ += (d - mean_) / 4;
    } else {  // a new pace starts here
      steady_ = 1;
      mean_ = d;
      jitter_ = Duration::zero();
    }
  }
  bool steady() const { return steady_ >= kSteadyAfter; }
  Duration mean() const { return mean_; }
  // How far before the predicted time the window opens: spun through at every
  // burst, so narrow.
  // (At least 30 us, at most a quarter of the pace, which wins below 120 us:
  // not std::clamp, whose bounds must be ordered.)
  Duration early_side() const { return std::min<Duration>(std::max<Duration>(4 * jitter_, std::chrono::microseconds(30)), mean_ / 4); }
  // How far after it the window closes: spun through only when the burst comes
  // late, and late bursts spread further than early ones (a sleeping thread wakes
  // late, never early), so wide.
  Duration late_side() const { return std::min<Duration>(std::max<Duration>(8 * jitter_, std::chrono::microseconds(60)), mean_ / 4); }
  // Not steady until the next sample on pace.
  void doubt() { steady_ = std::min(steady_, kSteadyAfter - 1); }

 private:
  Duration mean_ = Duration::zero();    // running mean of the samples on pace
  Duration jitter_ = Duration::zero();  // running mean absolute deviation from it
  int steady_ = 0;                      // samples in a row on pace
};

class BurstPacer {
 public:
  using Duration = Clock::duration;

  // When a worker should stop parking and spin for the next burst, and until when.
  struct Window {
    Clock::time_point wake;
    Clock::time_point until;
    int burst_cpu;  // where the last burst came from (-1: unknown)
  };

  // A burst came at `now` from a thread on `cpu` (-1: unknown); the pool had run
  // out of work at `ran_out` (ignored unless after the previous burst).
  void on_burst(Clock::time_point now, int cpu, Clock::time_point ran_out) {
    cpu_ = cpu;
    if (have_last_) {
      interval_.add(now - last_);
      if (ran_out > last_ && ran_out <= now) gap_.add(now - ran_out);
      else gap_.doubt();
    }
    have_last_ = true;
    last_ = now;
  }

  // The window for the next burst if a model is steady (the one with the
  // narrower window, if both) and the burst is not overdue at `now`; `ran_out`
  // as for on_burst.
  std::optional<Window> window(Clock::time_point now, Clock::time_point ran_out) const {
    std::optional<Window> best;
    Duration best_width{};
    auto consider = [&](const PaceModel& m, Clock::time_point from) {
      if (!m.steady()) return;
      const Clock::time_point due = from + m.mean();
      const Duration width = m.early_side() + m.late_side();
      if (now > due + m.late_side() || (best && width >= best_width)) return;
      best = Window{due - m.early_side() - lateness_ - 2 * lateness_dev_, due + m.late_side(), cpu_};
      best_width = width;
    };
    if (!have_last_) return best;
    consider(interval_, last_);
    if (ran_out > last_) consider(gap_, ran_out);
    return best;
  }

  // A timed wake meant for `target` came at `woke`: learn how late they run.
  void on_wake(Clock::time_point target, Clock::time_point woke) {
    const Duration late = std::clamp<Duration>(woke - target, Duration::zero(), std::chrono::milliseconds(1));
    lateness_dev_ += ((late > lateness_ ? late - lateness_ : lateness_ - late) - lateness_dev_) / 4;
    lateness_ += (late - lateness_) / 4;
  }

  // A window passed without its burst: no window until the next burst comes on
  // pace again (a loop that stopped costs this one window; one that hiccuped,
  // one burst without a worker awake).
  void on_miss() {
    interval_.doubt();
    gap_.doubt();
  }

 private:
  bool have_last_ = false;
  Clock::time_point last_{};  // the last burst
  PaceModel interval_;        // burst to burst: a loop that sleeps until a deadline
  PaceModel gap_;             // pool ran out to burst: a loop that sleeps a fixed time after its frame
  // Of timed wakes: running mean (from 50 us, Linux's default timer slack) and
  // mean absolute deviation; the wake is set earlier by the mean plus twice the
  // deviation.
  Duration lateness_ = std::chrono::microseconds(50);
  Duration lateness_dev_ = Duration::zero();
  int cpu_ = -1;
};

}  // namespace spindle::detail
