// Barrier: N participants meet, then all go on; reusable phase after phase.
//
//   spindle::Barrier phase_end(workers);
//   for (;;) { step(); phase_end.arrive_and_wait(); }
#pragma once

#include <cstddef>
#include <cstdint>

#include "spindle/fibers/spin_lock.h"
#include "spindle/sync/wait_list.h"

namespace spindle {

class Barrier {
 public:
  // `participants` must be at least 1 (dies otherwise).
  explicit Barrier(std::size_t participants);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;
  // Dies if fibers or threads still wait on it.
  ~Barrier();

  // Blocks the calling fiber (parked) or thread until all participants of the
  // current phase have arrived. Returns true in exactly one participant per phase
  // (the last to arrive), false in the others. The next phase starts at once.
  bool arrive_and_wait();

  std::size_t participants() const { return participants_; }
  // Completed phases; racy while participants run.
  std::uint64_t phase() const;

 private:
  const std::size_t participants_;
  mutable detail::SpinLock lock_;  // guards all below
  std::size_t arrived_ = 0;
  std::uint64_t phase_ = 0;
  detail::WaiterList waiters_;
};

}  // namespace spindle
