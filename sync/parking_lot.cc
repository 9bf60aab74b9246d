#include "spindle/sync/parking_lot.h"

#include <cstdio>
#include <cstdlib>

#include "spindle/sync/process_barrier.h"

namespace spindle::detail {

ParkingLot::Bucket ParkingLot::buckets_[ParkingLot::kBuckets];
std::atomic<int> ParkingLot::mode_{ParkingLot::kUnknown};

Waiter* ParkingLot::Bucket::first(const void* address) const {
  for (Waiter* w = waiters.front(); w != nullptr; w = w->next) {
    if (w->object == address) return w;
  }
  return nullptr;
}

int ParkingLot::resolve_mode() {
  static const int resolved = process_barrier_register() ? kAsymmetric : kFences;  // once, thread-safe
  mode_.store(resolved, std::memory_order_release);
  return resolved;
}

namespace {
// Resolved at load time, so that releasers skip their fence from the start; one
// that runs before this (another library's static initialisers) fences.
[[maybe_unused]] const int g_mode_at_load = ParkingLot::resolve_mode();
}  // namespace

void ParkingLot::heavy_barrier() {
  int mode = mode_.load(std::memory_order_acquire);  // pairs with resolve_mode()'s release store
  if (mode == kUnknown) mode = resolve_mode();
  if (mode == kAsymmetric && process_barrier()) return;
  if (mode == kAsymmetric) {
    // Registered but failing now (should not happen): releasers skip their fence,
    // so this barrier alone is not enough; abort rather than risk a lost wakeup.
    std::fprintf(stderr, "spindle: the process-wide barrier failed after registration\n");
    std::abort();
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace spindle::detail
