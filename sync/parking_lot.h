// ParkingLot: wait queues keyed by address, outside the objects waited on (after
// WebKit's WTF::ParkingLot), for primitives whose release must not touch the
// object after it is released.
//
// Why: Mutex::unlock() releases with a plain store. Whether anyone must be woken
// it learns afterwards, and by then another party may have taken the mutex,
// released it and destroyed it. So the question "is anyone parked on address A?"
// is answered here, in process-lifetime memory, without dereferencing A; only a
// caller that found a waiter parked on A may touch A again (an object with waiters
// cannot legally be destroyed).
//
// A fixed table of buckets; an address hashes to one. Each bucket has a SpinLock, a
// FIFO of parked Waiters (Waiter::object is the address) and a count of them that
// releasers read without the lock.
//
// The store-then-load race (Dekker): a releaser stores "free" and then reads the
// count; a parker increments the count and then reads "free". Without a StoreLoad
// barrier on both sides each could miss the other's write. The parker, which is
// about to sleep anyway, pays for both: heavy_barrier() (a process-wide barrier,
// sync/process_barrier.h: membarrier(2) on Linux, FlushProcessWriteBuffers on
// Windows, which make every running thread of the process execute a full barrier)
// lets the releaser get away with light_barrier(), a compiler barrier. Where no
// process-wide barrier is available light_barrier() is a real fence.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "spindle/fibers/spin_lock.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sync/wait_list.h"

namespace spindle::detail {

class ParkingLot {
 public:
  struct alignas(64) Bucket {
    SpinLock lock;
    WaiterList waiters;             // guarded by lock
    std::atomic<int> parked{0};     // waiters.size(); written under lock, read without
    // The first waiter parked on `address`, or null. Under lock.
    Waiter* first(const void* address) const;
  };

  static Bucket& bucket(const void* address) {
    const auto a = reinterpret_cast<std::uintptr_t>(address);
    return buckets_[((a >> 4) ^ (a >> 12)) % kBuckets];
  }

  // The releaser's side of the barrier pair, between its release store and its
  // read of Bucket::parked.
  static void light_barrier() {
    if (mode_.load(std::memory_order_relaxed) == kAsymmetric) {
      std::atomic_signal_fence(std::memory_order_seq_cst);  // the parker's membarrier covers us
    } else {
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
  }
  // The parker's side, between its increment of Bucket::parked and its re-check.
  static void heavy_barrier();
  // Registers membarrier once and publishes the mode (at load time, and by the
  // first heavy_barrier() if that comes earlier).
  static int resolve_mode();

 private:
  static constexpr std::size_t kBuckets = 256;
  static Bucket buckets_[kBuckets];
  // kUnknown until the first heavy_barrier() registers membarrier, then kAsymmetric
  // or kFences for good. Releasers treat kUnknown as kFences; parkers resolve it
  // before choosing, so a releaser skips its fence only when every parker issues
  // membarrier.
  enum Mode : int { kUnknown, kAsymmetric, kFences };
  static std::atomic<int> mode_;
};

}  // namespace spindle::detail
