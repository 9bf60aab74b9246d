#include "spindle/sync/mutex.h"

#include <mutex>

#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/spin_pause.h"
#include "spindle/sync/fault_point.h"

namespace spindle {
namespace {

constexpr int kSpinTries = 64;

// Per-wait bookkeeping, reached through Waiter::data. Guarded by the bucket's lock
// while queued.
struct WaitInfo {
  Clock::time_point since;  // first time this locker queued
  bool granted = false;     // set by a hand-off unlock before notify(): we own the lock
  // Counted in the bucket's `parked`. A waker uncounts the other waiters of the
  // same mutex while the one it woke has not run yet, so that unlocks meanwhile
  // stay on the fast path; the woken one counts them again when it runs (and from
  // then on is responsible: it either takes the mutex, and its unlock sees them,
  // or parks again behind the Dekker re-check).
  bool counted = true;
  // Parked with a deadline (the moment it would start to starve): its own timer may
  // end the wait, so a waker notifies it under the bucket's lock, with notify()'s
  // compare-exchange (see wake()).
  bool timed = false;
};

using detail::ParkingLot;

WaitInfo& info_of(Waiter* w) { return *static_cast<WaitInfo*>(w->data); }

// Under b.lock: the waiters of `address` other than the one just woken stop
// counting (see WaitInfo::counted).
void uncount_others(ParkingLot::Bucket& b, const void* address) {
  for (Waiter* n = b.waiters.front(); n != nullptr; n = n->next) {
    if (n->object == address && info_of(n).counted) {
      info_of(n).counted = false;
      b.parked.fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

// Under b.lock, with `w` just taken out of the queue: ends its wait. A timed
// waiter is notified here, under the lock it withdraws under, so it cannot vanish
// first; if its deadline won the race it finds itself dequeued when it takes the
// lock, and its `granted` tells it whether it owns the mutex. Returns the waiter to
// notify_sole() after the lock is released (an untimed one: nothing else can end
// its wait), or null.
Waiter* end_wait_locked(Waiter* w) {
  if (!info_of(w).timed) return w;
  (void)w->notify();
  return nullptr;
}

// Under b.lock: where a (re)parking waiter of `address` that first queued at
// `since` belongs: before the first younger waiter of the same mutex, so the queue
// stays in order of age and a waiter that was woken and lost the race keeps its
// place. Null: at the back.
Waiter* younger_than(ParkingLot::Bucket& b, const void* address, Clock::time_point since) {
  for (Waiter* n = b.waiters.front(); n != nullptr; n = n->next) {
    if (n->object == address && info_of(n).since > since) return n;
  }
  return nullptr;
}

// Run by a woken waiter before anything else: counts its fellow waiters again.
void recount(ParkingLot::Bucket& b, const void* address) {
  std::lock_guard<detail::SpinLock> g(b.lock);
  for (Waiter* n = b.waiters.front(); n != nullptr; n = n->next) {
    if (n->object == address && !info_of(n).counted) {
      info_of(n).counted = true;
      b.parked.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace

Mutex::~Mutex() {
  if (is_locked()) {
    detail::sync_misuse("Mutex", this, "destroyed while locked", owner_.load(std::memory_order_relaxed));
  }
  // Taking the bucket's lock also waits for an unlock that is still waking
  // someone (it holds that lock while it touches the mutex).
  ParkingLot::Bucket& b = ParkingLot::bucket(this);
  std::lock_guard<detail::SpinLock> g(b.lock);
  if (b.first(this) != nullptr) detail::sync_misuse("Mutex", this, "destroyed while fibers or threads wait to lock it");
}

void Mutex::not_owner(std::uint64_t owner) const {
  if (!is_locked()) detail::sync_misuse("Mutex", this, "unlock() of a mutex that is not locked");
  detail::sync_misuse("Mutex", this, "unlock() by a caller that does not hold the mutex", owner);
}

bool Mutex::spin_acquire(std::uint64_t me) {
  for (int i = 0; i < kSpinTries; ++i) {
    // Read-only until it looks free, so spinners do not steal the line from the
    // holder with writes.
    if (locked_.load(std::memory_order_relaxed) == 0 && try_acquire(me)) return true;
    detail::spin_pause();
  }
  return false;
}

void Mutex::lock_slow() {
  SPINDLE_FAULT_POINT();
  const std::uint64_t me = detail::caller_id();
  if (spin_acquire(me)) return;
  WaitInfo info{detail::now()};
  // Past this moment the locker is starving. Its first park has this deadline, so
  // it notices even if no unlock ever wakes it (every wake may go to others, or to
  // a fiber that does not get to run), and then turns hand-off mode on itself.
  const Clock::time_point starving_at = info.since + kStarvationThreshold;
  bool starving = false;
  bool parked_before = false;
  ParkingLot::Bucket& b = ParkingLot::bucket(this);
  for (;;) {
    std::unique_lock<detail::SpinLock> lk(b.lock);
    // Announce, then re-check (the Dekker pair of unlock(): see parking_lot.h). If
    // the mutex is still held, its holder's unlock will see `parked` and wake the
    // oldest waiter, or (in hand-off mode) hand it the mutex; either needs our
    // bucket lock: by then we are queued.
    b.parked.fetch_add(1, std::memory_order_relaxed);
    ParkingLot::heavy_barrier();
    if (locked_.load(std::memory_order_relaxed) == 0) {
      b.parked.fetch_sub(1, std::memory_order_relaxed);
      lk.unlock();
      if (try_acquire(me)) return;
      continue;
    }
    if (!starving && detail::now() >= starving_at) starving = true;
    // A starving waiter turns hand-off on. The holder reads handoff_ in unlock()
    // (relaxed: it may still see false once, then it releases normally and wakes the
    // oldest waiter, which re-parks here and sets it again; the next unlock hands
    // over). Set under the bucket lock, like every write of it.
    if (starving) handoff_.store(true, std::memory_order_relaxed);
    Waiter w;
    w.object = this;
    w.kind = "mutex";
    w.data = &info;
    SPINDLE_FAULT_POINT();
    info.counted = true;
    info.timed = !starving;
    // In order of age: a newcomer is the youngest (the back); a waiter that was
    // woken and lost the race, or whose deadline passed, keeps its place.
    Waiter* before = parked_before ? younger_than(b, this, info.since) : nullptr;
    b.waiters.insert_before(before, &w);
    parked_before = true;
    const WakeReason r = w.wait([&lk] {
      lk.release()->unlock();  // last touch of this stack (see wait_list.h)
      return true;
    }, info.timed ? std::optional<Clock::time_point>(starving_at) : std::nullopt);
    if (r != WakeReason::kNotified) {
      // Our deadline: withdraw, unless a waker took us out of the queue meanwhile
      // (its notify() then failed; `granted` says whether it handed us the mutex).
      std::lock_guard<detail::SpinLock> g(b.lock);
      if (w.queued) {
        b.waiters.remove(&w);
        if (info.counted) b.parked.fetch_sub(1, std::memory_order_relaxed);
      }
      starving = true;
    }
    recount(b, this);
    // The waker removed us (and uncounted us). A hand-off's writes
    // (info.granted, the previous holder's critical section) happen before its
    // notify() (or, if our deadline won, before its release of the bucket lock
    // that we took above), which happens before we read them.
    if (info.granted) {
      owner_.store(me, std::memory_order_relaxed);
      return;
    }
    if (spin_acquire(me)) return;
  }
}

void Mutex::wake_one(const Mutex* address) {
  SPINDLE_FAULT_POINT();
  ParkingLot::Bucket& b = ParkingLot::bucket(address);
  Waiter* w;
  {
    std::lock_guard<detail::SpinLock> g(b.lock);
    w = b.first(address);
    if (w == nullptr) return;  // parked on another address of this bucket; *address may be gone
    b.waiters.remove(w);
    if (info_of(w).counted) b.parked.fetch_sub(1, std::memory_order_relaxed);
    uncount_others(b, address);
    w = end_wait_locked(w);
  }
  // An untimed waiter that we took out of the queue: nobody else can end its wait,
  // so it is ended outside the bucket's lock and without a CAS.
  if (w != nullptr) w->notify_sole();
}

void Mutex::unlock_handing_off() {
  SPINDLE_FAULT_POINT();
  ParkingLot::Bucket& b = ParkingLot::bucket(this);
  Waiter* w;
  {
    std::lock_guard<detail::SpinLock> g(b.lock);
    w = b.first(this);
    if (w == nullptr) {
      // Nobody left to hand to: release for good. Parkers re-check under this
      // bucket lock, so none can miss the release.
      handoff_.store(false, std::memory_order_relaxed);
      locked_.store(0, std::memory_order_release);
      return;
    }
    b.waiters.remove(w);
    if (info_of(w).counted) b.parked.fetch_sub(1, std::memory_order_relaxed);
    uncount_others(b, this);
    auto* info = &info_of(w);
    info->granted = true;
    // Leave hand-off mode once nobody is left or this waiter did not starve.
    if (b.first(this) == nullptr || detail::now() - info->since < kStarvationThreshold) {
      handoff_.store(false, std::memory_order_relaxed);
    }
    w = end_wait_locked(w);
  }
  // locked_ stays 1: the lock passes to the waiter without being free.
  if (w != nullptr) w->notify_sole();
}

}  // namespace spindle
