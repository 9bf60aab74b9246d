// Internal: the C++ runtime's exception-handling state, carried by each context.
//
// The Itanium C++ ABI runtime (libsupc++/libstdc++, libc++abi; also mingw-w64's
// libstdc++) keeps, per thread, the stack of exceptions currently caught (what
// `throw;` and std::current_exception() read) and the count of exceptions thrown
// but not yet caught (std::uncaught_exceptions()): `__cxa_get_globals()`. A fiber
// that switches away inside a catch block, or inside a destructor run by
// unwinding, leaves its entries there; whatever runs next on that thread would
// see them, and the fiber would see the other's on its return (`throw;` rethrowing
// another fiber's exception). So every Context owns a copy: each switch saves the
// thread's values into the context it leaves and installs the ones of the context
// it enters (coro/context.h, the one place every switch goes through).
#pragma once

namespace spindle::detail {

// The leading fields of the runtime's `__cxa_eh_globals`, in its layout (the same
// in libsupc++ and libc++abi; ARM EHABI's third field is not ours to move: it is
// only non-null while an exception propagates, never across a switch).
// No default member initialisers: a Context that only receives a switch's saved
// state (Context::SaveSlot) stays uninitialised; Context() zeroes it.
struct ExceptionState {
  void* caught_exceptions;           // __cxa_exception*: top of the caught stack
  unsigned int uncaught_exceptions;  // std::uncaught_exceptions()
};

// This thread's runtime state. Not inlined, on purpose: its address differs per
// thread, and a caller that cached it across a switch would, after migrating to
// another thread, write into the old thread's state (see coro/current.h). The
// accessor itself caches the address in a constant-initialised thread_local.
[[gnu::noinline]] ExceptionState* thread_exception_state() noexcept;

}  // namespace spindle::detail
