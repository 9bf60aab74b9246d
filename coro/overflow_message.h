// Internal: the stack-overflow message shared by coro/overflow_posix.cc and
// coro/overflow_win32.cc (see coro/overflow.h).
#pragma once

#include <cstddef>

namespace spindle {
class Coroutine;
}

namespace spindle::detail {

// Writes "stack overflow in fiber <name or #id> (stack size <n> bytes); raise
// Coroutine::Options::stack_size\n" into buf[0..cap) and returns its length
// (truncated to fit). Async-signal-safe: no allocation, no locks, little stack.
std::size_t format_stack_overflow(const Coroutine& co, char* buf, std::size_t cap);

}  // namespace spindle::detail
