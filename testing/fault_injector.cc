#include "spindle/testing/fault_injector.h"

#include <stdexcept>
#include <thread>

#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/spin_pause.h"
#include "spindle/sched/fault_point.h"
#include "spindle/testing/simulation.h"

namespace spindle::testing {

namespace detail_sim {
void fault_point();  // simulation.cc
}  // namespace detail_sim

namespace {

std::atomic<FaultInjector*> g_injector{nullptr};

// Per-thread PRNG stream derived from the injector's seed, so threads do not
// contend on shared state. (Real threads make injected runs reproducible only in
// distribution; exact replays are the simulator's job.)
std::uint64_t next_random(std::uint64_t seed) {
  thread_local std::uint64_t state = 0;
  thread_local std::uint64_t seeded_with = 0;
  if (state == 0 || seeded_with != seed) {
    seeded_with = seed;
    state = (seed + 1) * 0x9E3779B97F4A7C15ULL ^ std::hash<std::thread::id>{}(std::this_thread::get_id());
    if (state == 0) state = 1;
  }
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

void dispatch() {
  if (in_simulation()) {
    detail_sim::fault_point();
  } else if (g_injector.load(std::memory_order_acquire) != nullptr) {
    inject_fault();
  }
}

}  // namespace

void install_fault_hook() { detail::g_fault_hook.store(&dispatch, std::memory_order_release); }

void inject_fault() {
  FaultInjector* inj = g_injector.load(std::memory_order_acquire);
  if (inj == nullptr) return;
  inj->reached_.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t r = next_random(inj->options_.seed);
  const double u = static_cast<double>(r >> 11) * 0x1.0p-53;
  if (u >= inj->options_.rate) return;
  inj->injected_.fetch_add(1, std::memory_order_relaxed);
  switch ((r >> 3) % 4) {
    case 0:
      if (this_fiber::on_fiber() && detail::spin_locks_held() == 0) {
        this_fiber::yield();
        break;
      }
      [[fallthrough]];
    case 1:
      std::this_thread::yield();
      break;
    case 2:
      for (int i = 0; i < static_cast<int>((r >> 8) % 2000); ++i) spindle::detail::spin_pause();
      break;
    default: {
      const auto max = inj->options_.max_sleep.count();
      std::this_thread::sleep_for(std::chrono::microseconds(max > 0 ? static_cast<long>((r >> 16) % max) : 0));
      break;
    }
  }
}

FaultInjector::FaultInjector(const FaultOptions& options) : options_(options) {
  FaultInjector* expected = nullptr;
  if (!g_injector.compare_exchange_strong(expected, this)) {
    throw std::logic_error("spindle::testing::FaultInjector: another injector is active");
  }
  install_fault_hook();
}

FaultInjector::~FaultInjector() { g_injector.store(nullptr, std::memory_order_release); }

}  // namespace spindle::testing
