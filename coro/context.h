// The machine layer: a saved execution context and the switch between two.
//
// A `Context` is the state a suspended flow of control needs to continue: its
// saved stack pointer (everything else the ABI calls callee-saved is pushed on its
// own stack by the switch), plus what the sanitizers must be told at each switch.
//
// Two backends implement the same two extern "C" entry points, chosen at link time
// (coro/BUILD.bazel): hand-written assembly per ABI (coro/arch/*.S, the default), and
// Boost.Context's make_fcontext/jump_fcontext (context_boost.cc), kept as a fallback
// for other targets and as a cross-check: the coro tests run against both.
#pragma once

#include <cstddef>

#include "spindle/coro/exception_state.h"
#include "spindle/coro/sanitizers.h"

namespace spindle::detail {

// Function a new context runs first. It must never return: a context ends by
// switching away for the last time (`switch_context_final`).
using ContextEntry = void (*)(void* arg);

struct Context {
  Context()
      : sp(nullptr), stack_bottom(nullptr), stack_size(0), asan_fake_stack(nullptr), tsan_fiber(nullptr),
        came_from(nullptr), entry(nullptr), entry_arg(nullptr), stack_reservation(nullptr),
        exception_state{nullptr, 0} {}  // all null
  // For a context that only ever receives a switch's saved state (resume()'s
  // frame, once per resume): without sanitizers nothing is read before the switch
  // writes it, so nothing is initialised; with them, everything is.
  struct SaveSlot {};
  explicit Context(SaveSlot)
#if SPINDLE_ASAN || SPINDLE_TSAN
      : Context()
#endif
  {
  }

  // Saved stack pointer (asm backend) or fcontext_t (Boost backend). Written only by
  // the switch that leaves this context; read only by the switch that enters it.
  void* sp;

  // Stack bounds, for ASan's fiber annotations; unknown (null) for a thread's own
  // stack until the first switch back into it reports them.
  void* stack_bottom;
  std::size_t stack_size;

  // ASan's fake stack of this context while it is switched out.
  void* asan_fake_stack;
  // TSan's fiber handle: created with the pooled stack (creation is slow on GCC's
  // libtsan) or, for a thread's own context, taken from the thread on first switch.
  void* tsan_fiber;
  // The context that last switched into this one, so that the arriving side can
  // record that context's stack bounds for ASan.
  Context* came_from;

  // Boost backend only: the function and argument of a context not yet started.
  ContextEntry entry;
  void* entry_arg;

  // Win64 asm backend only, read by spindle_make_context: the lowest address of the
  // stack's reservation (guard page and the reserve below it included), which the
  // TIB's DeallocationStack names while this context runs. Null: the usable bottom.
  void* stack_reservation;

  // The C++ runtime's exception state of this context while it is switched out
  // (coro/exception_state.h); empty for a context not yet started. Written by the
  // switch that leaves this context, read by the switch that enters it.
  ExceptionState exception_state;
};

// The assembly reads these by offset.
static_assert(offsetof(Context, sp) == 0);
#if defined(_WIN64)
static_assert(offsetof(Context, stack_reservation) == 0x40);  // x86_64_win64.S
#endif

}  // namespace spindle::detail

extern "C" {
// Prepares `ctx` so that the first switch into it runs entry(arg) on the stack whose
// highest address is `stack_top` (`stack_size` usable bytes below it). On x86-64
// the current MXCSR and x87 control word become the new context's initial FP
// control state.
void spindle_make_context(spindle::detail::Context* ctx, void* stack_top, std::size_t stack_size,
                          spindle::detail::ContextEntry entry, void* arg);

// Saves the callee-saved state of the running code into `from` and continues `to`
// where it was suspended (or at its entry). Returns when someone switches back to
// `from`. Saved: the ABI's callee-saved registers; on x86-64 also the MXCSR control
// bits and x87 control word, on Win64 also the TIB's stack fields (see the frame
// diagram in coro/arch/<abi>.S).
void spindle_switch_context(spindle::detail::Context* from, spindle::detail::Context* to);
}

namespace spindle::detail {

// Tells ASan and TSan that the running context is about to become `to`. Compiles to
// nothing without sanitizers.
inline void sanitizer_before_switch(Context* from, Context* to, bool from_finishes) {
  to->came_from = from;
#if SPINDLE_ASAN
  // A finishing context passes no fake-stack slot, so ASan frees its fake frames.
  __sanitizer_start_switch_fiber(from_finishes ? nullptr : &from->asan_fake_stack,
                                 to->stack_bottom, to->stack_size);
#endif
#if SPINDLE_TSAN
  if (from->tsan_fiber == nullptr) from->tsan_fiber = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  (void)from_finishes;
}

// Runs in `self` right after a switch into it completed.
inline void sanitizer_after_switch(Context* self) {
#if SPINDLE_ASAN
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self->asan_fake_stack, &bottom, &size);
  // Learn the bounds of a thread's own stack the first time we leave it.
  Context* prev = self->came_from;
  if (prev != nullptr && prev->stack_bottom == nullptr) {
    prev->stack_bottom = const_cast<void*>(bottom);
    prev->stack_size = size;
  }
#endif
  (void)self;
}

// Switches from `from` (the running context) to `to`, telling the sanitizers and
// carrying the C++ runtime's exception state: the thread's current values go with
// `from`, and `to`'s become the thread's. Nothing throws between the swap and the
// switch. Whoever later switches back into `from` installs its values again.
inline void switch_context(Context* from, Context* to) {
  ExceptionState* const eh = thread_exception_state();  // this thread's, fetched now
  from->exception_state = *eh;
  *eh = to->exception_state;
  sanitizer_before_switch(from, to, /*from_finishes=*/false);
  spindle_switch_context(from, to);
  sanitizer_after_switch(from);
}

// Switches away from `from` for the last time: its stack may be reused as soon as
// the switch completes.
// A finished context has no exception state left to keep (its body returned, so
// every catch block has ended): only `to`'s is installed.
[[noreturn]] inline void switch_context_final(Context* from, Context* to) {
  *thread_exception_state() = to->exception_state;
  sanitizer_before_switch(from, to, /*from_finishes=*/true);
  spindle_switch_context(from, to);
  __builtin_trap();  // nobody switches back into a finished context
}

// The first thing a new context's entry function does.
inline void context_started(Context* self) { sanitizer_after_switch(self); }

}  // namespace spindle::detail
