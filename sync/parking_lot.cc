#include "spindle/sync/parking_lot.h"

#include <cstdio>
#include <cstdlib>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace spindle::detail {
namespace {

bool register_membarrier() {
#if defined(__linux__) && defined(__NR_membarrier)
  // Registration once per process; afterwards MEMBARRIER_CMD_PRIVATE_EXPEDITED
  // interrupts only the CPUs currently running this process's threads.
  return syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
  return false;
#endif
}

}  // namespace

ParkingLot::Bucket ParkingLot::buckets_[ParkingLot::kBuckets];
std::atomic<int> ParkingLot::mode_{ParkingLot::kUnknown};

Waiter* ParkingLot::Bucket::first(const void* address) const {
  for (Waiter* w = waiters.front(); w != nullptr; w = w->next) {
    if (w->object == address) return w;
  }
  return nullptr;
}

int ParkingLot::resolve_mode() {
  static const int resolved = register_membarrier() ? kAsymmetric : kFences;  // once, thread-safe
  mode_.store(resolved, std::memory_order_release);
  return resolved;
}

namespace {
// Resolved at load time, so that releasers skip their fence from the start; one
// that runs before this (another library's static initialisers) fences.
[[maybe_unused]] const int g_mode_at_load = ParkingLot::resolve_mode();
}  // namespace

void ParkingLot::heavy_barrier() {
  int mode = mode_.load(std::memory_order_acquire);
  if (mode == kUnknown) mode = resolve_mode();
#if defined(__linux__) && defined(__NR_membarrier)
  if (mode == kAsymmetric && syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
  if (mode == kAsymmetric) {
    // Registered but failing now (should not happen): fall back for good. Until
    // every releaser sees kFences this barrier alone is not enough, so abort
    // rather than risk a lost wakeup.
    std::fprintf(stderr, "spindle: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration\n");
    std::abort();
  }
#endif
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace spindle::detail
