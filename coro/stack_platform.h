// Internal: the seam between coro/stack.cc (portable) and the platform half of
// Stack, coro/stack_posix.cc or coro/stack_win32.cc (chosen in coro/BUILD.bazel).
// The platform file defines Stack::page_size, Stack::allocate and Stack::release.
#pragma once

#include <cstddef>

#include "spindle/coro/stack.h"

namespace spindle::detail {

// Called by Stack::allocate for every mapping it makes (stack_map_count()).
void count_stack_mapping();

// How far below the guard region a fault still counts as this stack's overflow: a
// frame larger than the guard region may skip it and fault in unmapped memory
// below (if it lands in a neighbour's mapping instead, nothing faults: see
// kGuardRegion in coro/stack.h).
inline constexpr std::size_t kOverflowSlack = 64 * 1024;

#if !defined(_WIN32)
// From now on, guards are made with mprotect, as on kernels without
// MADV_GUARD_INSTALL: for tests of that fallback.
void use_mprotect_guards();
#endif

#if defined(_WIN32)
// Bytes reserved, never committed, below a Windows stack's guard page
// (coro/stack_win32.cc). A guard-page hit is stack growth unless the guard page
// lies within one page plus the thread's stack guarantee (at least two pages on
// Win64) of the reservation's base (TEB.DeallocationStack); then it is
// STATUS_STACK_OVERFLOW, and the exception dispatcher builds its frames and runs
// the overflow handler (coro/overflow_win32.cc) on the pages just below the
// faulting stack pointer, which must not reach into the lowest page. Two pages
// meet both conditions. Checked under wine: with four, the guard page moves down
// into the reserve and the overflow ends the process silently; one page passes
// the tests, but whether the dispatcher's frames fit then depends on where in the
// guard page the fault lands.
inline constexpr std::size_t kWin32OverflowReserve = 2 * 4096;

// Lowest address of `stack`'s reservation, for the TIB's DeallocationStack.
void* stack_reservation(const Stack& stack);
#endif

}  // namespace spindle::detail
