// RunQueue: a worker's bounded local queue, after Go's runq (runtime/proc.go).
//
// A ring of kCapacity task pointers between head (next to take) and `tail_`
// (next free slot); both are 32-bit indices that wrap through `% kCapacity`.
//
//   * Only the owner pushes at the back: it writes the slot, then publishes it
//     with a release store of tail_ (no read-modify-write).
//   * The owner may also push at the front (the continuation of a fiber that
//     spawned, so that fork-join trees run depth-first): one CAS moving head back.
//   * The owner pops from the head with one CAS on head_ (uncontended unless a thief
//     is at work). A CAS-free pop, as in a Chase-Lev deque, would race with
//     thieves that take half the queue at once: a thief's snapshot of tail_ may be
//     several owner pops old, so both would take the same tasks.
//   * A thief takes half with one CAS on head_: it copies the slots it wants into
//     its own ring first, then claims them; if the CAS fails it retries.
//
// head_ packs the head index (low 32 bits) with a version (high 32 bits) bumped by
// every CAS. Without it, a front push could bring head back to an index a thief
// had read, with a different task in that slot by then (ABA), and the thief's CAS
// would succeed on stale copies.
//
// Memory order: the owner's release store of tail_ pairs with the acquire loads of
// tail_ in pop/steal, so a consumer that sees index i < tail_ sees slot i's task.
// Consumers' acq_rel CAS of head_ pairs with the owner's acquire load of head_ in
// push, so a slot is overwritten only after its previous task was claimed (and
// read). push_front publishes its slot with the release half of its CAS, which
// consumers' acquire loads of head_ pair with. The tasks themselves (the fiber
// state written before a submit) are published by the same release stores.
// Reviewed for weakly ordered CPUs (aarch64): no ordering here relies on x86's
// TSO; every cross-thread read of a slot is preceded by an acquire that pairs
// with the release publishing it.
#pragma once

#include <atomic>
#include <cstdint>

#include "spindle/sched/executor.h"
#include "spindle/sched/task_list.h"

namespace spindle::detail {

class RunQueue {
 public:
  static constexpr std::uint32_t kCapacity = 256;

  // Owner only. Returns false, changing nothing, when the ring is full.
  bool push(Task* task) {
    // Acquire: pairs with consumers' CAS of head_ (their release half), so their
    // reads of the slots we may now overwrite happen before our store below.
    const std::uint32_t h = index(head_.load(std::memory_order_acquire));
    const std::uint32_t t = tail_.load(std::memory_order_relaxed);  // only we write tail_
    if (t - h >= kCapacity) return false;
    slots_[t % kCapacity].store(task, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Owner only, when push failed: moves the older half of the ring plus `task`
  // into `out` (for the global queue). Returns false if thieves emptied enough of
  // the ring meanwhile that push will now succeed.
  bool take_half_for_overflow(Task* task, TaskList& out) {
    std::uint64_t head = head_.load(std::memory_order_acquire);
    const std::uint32_t h = index(head);
    const std::uint32_t t = tail_.load(std::memory_order_relaxed);
    const std::uint32_t n = (t - h) / 2;
    if (n != kCapacity / 2) return false;
    Task* batch[kCapacity / 2];
    for (std::uint32_t i = 0; i < n; ++i) batch[i] = slots_[(h + i) % kCapacity].load(std::memory_order_relaxed);
    if (!head_.compare_exchange_strong(head, advanced(head, n), std::memory_order_acq_rel)) return false;
    for (std::uint32_t i = 0; i < n; ++i) out.push_back(batch[i]);
    out.push_back(task);
    return true;
  }

  // Owner only: puts `task` first in line. False, changing nothing, when full.
  bool push_front(Task* task) {
    std::uint64_t head = head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t h = index(head);
      if (tail_.load(std::memory_order_relaxed) - h >= kCapacity) return false;
      // Slot h-1 is free (the ring is not full); a stale thief may read it, but
      // its CAS then fails on the version. The release CAS publishes the slot.
      slots_[(h - 1) % kCapacity].store(task, std::memory_order_relaxed);
      if (head_.compare_exchange_weak(head, make_head(h - 1, version(head) + 1), std::memory_order_acq_rel)) {
        return true;
      }
    }
  }

  // Owner (or anyone, for a final drain). Null when empty.
  Task* pop() {
    return pop_if([](Task*) { return true; });
  }

  // Like pop(), but takes the first task only if pred(task) holds.
  template <class Pred>
  Task* pop_if(Pred pred) {
    std::uint64_t head = head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t h = index(head);
      // Acquire: pairs with push's release store of tail_ (slot h is written).
      const std::uint32_t t = tail_.load(std::memory_order_acquire);
      if (h == t) return nullptr;
      Task* task = slots_[h % kCapacity].load(std::memory_order_relaxed);
      if (!pred(task)) return nullptr;
      if (head_.compare_exchange_weak(head, advanced(head, 1), std::memory_order_acq_rel)) return task;
    }
  }

  // Thief: moves half of this queue (rounded up) into `dst`, which must be the
  // calling worker's own, empty queue. Returns one of the stolen tasks to run now
  // (the rest are in dst), or null if there was nothing to steal.
  Task* steal_into(RunQueue& dst) {
    const std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);
    for (;;) {
      // Acquire head_: pairs with push_front's release CAS (its slot is written).
      // Acquire tail_: pairs with push's release store (slots below t written).
      std::uint64_t head = head_.load(std::memory_order_acquire);
      const std::uint32_t h = index(head);
      const std::uint32_t t = tail_.load(std::memory_order_acquire);
      std::uint32_t n = t - h;
      n -= n / 2;
      if (n == 0) return nullptr;
      if (n > kCapacity / 2) continue;  // inconsistent snapshot: head moved past our t
      for (std::uint32_t i = 0; i < n; ++i) {
        Task* task = slots_[(h + i) % kCapacity].load(std::memory_order_relaxed);
        dst.slots_[(dst_tail + i) % kCapacity].store(task, std::memory_order_relaxed);
      }
      // The CAS's release half orders our slot reads above before the owner's
      // next overwrite of those slots (its acquire load of head_ in push).
      if (head_.compare_exchange_weak(head, advanced(head, n), std::memory_order_acq_rel)) {
        Task* run_now = dst.slots_[(dst_tail + n - 1) % kCapacity].load(std::memory_order_relaxed);
        if (n > 1) dst.tail_.store(dst_tail + n - 1, std::memory_order_release);
        return run_now;
      }
    }
  }

  // Approximate; exact when called by the owner with no thief active.
  std::uint32_t size() const {
    const std::uint32_t h = index(head_.load(std::memory_order_acquire));
    const std::uint32_t t = tail_.load(std::memory_order_acquire);
    return t - h;
  }
  bool empty() const { return size() == 0; }

 private:
  static std::uint32_t index(std::uint64_t head) { return static_cast<std::uint32_t>(head); }
  static std::uint32_t version(std::uint64_t head) { return static_cast<std::uint32_t>(head >> 32); }
  static std::uint64_t make_head(std::uint32_t index, std::uint32_t version) {
    return (std::uint64_t{version} << 32) | index;
  }
  static std::uint64_t advanced(std::uint64_t head, std::uint32_t n) {
    return make_head(index(head) + n, version(head) + 1);
  }

  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  std::atomic<Task*> slots_[kCapacity] = {};
};

}  // namespace spindle::detail
