// spin_pause: the hint a spin-wait loop gives the CPU at each turn (x86 `pause`,
// aarch64 `yield`), so that a spinning hyperthread yields its core's resources and
// the loop's exit is not mispredicted. A no-op elsewhere.
// Not named cpu_relax: Boost.Fiber defines a function-like macro of that name,
// and users include both (tools/check_public_headers.sh compiles them together).
#pragma once

namespace spindle::detail {

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace spindle::detail
