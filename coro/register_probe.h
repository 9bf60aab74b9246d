// Test support: checks that a call preserves every register the ABI calls
// callee-saved, by loading known patterns into them around the call.
#pragma once

#include <cstdint>

extern "C" {
// Loads a pattern derived from `seed` into every callee-saved general-purpose
// register (and, on ABIs that preserve them, the callee-saved vector registers),
// calls fn(arg), and returns a bitmask of the registers whose value changed
// across the call: 0 means all were preserved. Bit order per ABI is listed in the
// probe's .S file.
std::uint64_t spindle_probe_callee_saved(void (*fn)(void*), void* arg, std::uint64_t seed);
}
