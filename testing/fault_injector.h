// FaultInjector: while one exists, every fault point (spindle::fault_point(), and
// the runtime's SPINDLE_FAULT_POINT()s in --config=faults builds) may, chosen by a
// seeded PRNG at `rate`: yield the fiber (never with a wait-queue SpinLock held),
// or delay the thread (a short spin, a sched_yield or a sleep of up to
// `max_sleep`). Real threads and schedulers, perturbed timing: run stress tests
// under it to widen race windows.
//
//   spindle::testing::FaultInjector faults({.seed = 7, .rate = 0.2});
//   ... run the stress test ...
//
// One injector at a time per process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace spindle::testing {

struct FaultOptions {
  std::uint64_t seed = 1;
  double rate = 0.1;  // chance that a given fault point does something
  std::chrono::microseconds max_sleep{50};
};

class FaultInjector {
 public:
  explicit FaultInjector(const FaultOptions& options = {});
  ~FaultInjector();
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  // Fault points reached while this injector was active, and how many it acted on.
  std::uint64_t points_reached() const { return reached_.load(); }
  std::uint64_t faults_injected() const { return injected_.load(); }

 private:
  friend void inject_fault();
  FaultOptions options_;
  std::atomic<std::uint64_t> reached_{0};
  std::atomic<std::uint64_t> injected_{0};
};

// Installs the process-wide dispatcher behind spindle::fault_point() (idempotent).
void install_fault_hook();
void inject_fault();

}  // namespace spindle::testing
