// Iteration counts for stress tests: full size normally, smaller under sanitizers
// (which slow fibers down 5-20x) so the default test run stays within budget.
#pragma once

#include "spindle/coro/sanitizers.h"

namespace spindle::testing_sizes {
#if SPINDLE_ASAN || SPINDLE_TSAN
inline constexpr int kScale = 10;
#else
inline constexpr int kScale = 1;
#endif
}  // namespace spindle::testing_sizes
