// Stack-overflow reporting: a fault anywhere in a coroutine's guard region (see
// coro/stack.h; a single page on Windows) prints
//   stack overflow in fiber <name or #id> (stack size <n> bytes)
// and aborts, instead of the bare SIGSEGV the kernel would deliver. The SIGSEGV
// handler runs on a per-thread alternate signal stack (the faulting stack has no
// room left) and passes any fault that is not a guard hit on to the handler
// that was installed before it.
#pragma once

namespace spindle::detail {

// Installs the process-wide handler once, and this thread's alternate signal stack
// (freed at thread exit). Cheap after the first call on a thread.
void ensure_overflow_handler();

}  // namespace spindle::detail
