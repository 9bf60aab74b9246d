// Thread-locals that the runtime reads after a possible switch.
//
// A compiler may compute a thread-local's address once and keep it in a register
// across a call; if that call switches fibers and the fiber resumes on another
// thread, the cached address still points at the first thread's variable (see
// FiberTaskingLib #57, llvm-project #98479). Every such thread-local is therefore
// reached only through these out-of-line accessors, which no caller can see into.
#pragma once

#include <cstdint>

namespace spindle {
class Coroutine;
}

namespace spindle::detail {

[[gnu::noinline]] Coroutine* current_coroutine();

// Process-unique ids for coroutines and fibers, handed out in per-thread blocks
// (unique, increasing per thread, not globally ordered).
std::uint64_t next_unique_id();
[[gnu::noinline]] void set_current_coroutine(Coroutine* co);

}  // namespace spindle::detail
