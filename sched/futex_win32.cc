// futex_wait / futex_wake on Windows: WaitOnAddress / WakeByAddressSingle and
// WakeByAddressAll (Windows 8+, synchronization.lib). Like the futex, WaitOnAddress
// compares the word with `expected` atomically with going to sleep and may return
// spuriously.
#include <windows.h>
#include <synchapi.h>

#include <chrono>
#include <climits>

#include "spindle/sched/parker.h"

namespace spindle::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "WaitOnAddress compares the atomic's bytes in place");

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::optional<Clock::time_point> deadline) {
  DWORD timeout_ms = INFINITE;
  if (deadline) {
    const auto left = *deadline - Clock::now();
    if (left <= Clock::duration::zero()) return;
    // Rounded up: waking a little late is fine, waking early only costs a loop.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    timeout_ms = ms >= static_cast<long long>(INFINITE) ? INFINITE - 1 : static_cast<DWORD>(ms);
  }
  WaitOnAddress(static_cast<volatile void*>(word), &expected, sizeof(expected), timeout_ms);
}

void futex_wake(std::atomic<std::uint32_t>* word, int count) {
  if (count == 1) {
    WakeByAddressSingle(static_cast<void*>(word));
  } else {
    WakeByAddressAll(static_cast<void*>(word));
  }
}

}  // namespace spindle::detail
