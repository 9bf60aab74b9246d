// coro/overflow.h on Windows: a vectored exception handler.
//
// Windows dispatches an exception on the stack that raised it, so the handler runs
// on the overflowed coroutine stack itself, in the few pages that the system
// commits below the guard page when it raises STATUS_STACK_OVERFLOW (the reserve
// described in coro/stack_win32.cc). Hence the handler does as little as it can:
// format into a small buffer, WriteFile, TerminateProcess. No alternate stack is
// needed (Windows has none to offer).
#include <windows.h>

#include <cstdint>
#include <mutex>

#include "spindle/coro/coroutine.h"
#include "spindle/coro/current.h"
#include "spindle/coro/overflow.h"
#include "spindle/coro/overflow_message.h"
#include "spindle/coro/stack_platform.h"

namespace spindle::detail {
namespace {

// The exit status of abort() on Windows, so that callers see the same outcome as
// from an abort; TerminateProcess itself needs almost no stack, abort() more.
constexpr UINT kAbortExitCode = 3;

bool is_overflow_of(const Coroutine& co, const EXCEPTION_POINTERS& ep) {
  const EXCEPTION_RECORD& rec = *ep.ExceptionRecord;
  // Fault address: parameter 1 of access violations and guard-page hits, and of
  // stack overflows raised by a page fault.
  const void* addr = rec.NumberParameters >= 2
                         ? reinterpret_cast<const void*>(rec.ExceptionInformation[1])
                         : nullptr;
  switch (rec.ExceptionCode) {
    case EXCEPTION_STACK_OVERFLOW: {  // the guard page was hit; no room is left
      if (addr != nullptr) return co.stack().overflow_hit(addr);
      // No address given: the stack pointer must lie on co's stack.
      const auto sp = static_cast<std::uintptr_t>(ep.ContextRecord->Rsp);
      const auto bottom = reinterpret_cast<std::uintptr_t>(co.stack().bottom());
      return sp >= bottom - Stack::guard_size() - kWin32OverflowReserve &&
             sp < reinterpret_cast<std::uintptr_t>(co.stack().top());
    }
    case EXCEPTION_GUARD_PAGE:        // the guard page, outside the TIB's stack
    case EXCEPTION_ACCESS_VIOLATION:  // below the guard page
      return addr != nullptr && co.stack().overflow_hit(addr);
    default:
      return false;
  }
}

LONG CALLBACK on_exception(EXCEPTION_POINTERS* ep) {
  const Coroutine* co = current_coroutine();
  if (co == nullptr || !is_overflow_of(*co, *ep)) return EXCEPTION_CONTINUE_SEARCH;
  char msg[160];
  const std::size_t len = format_stack_overflow(*co, msg, sizeof msg);
  DWORD written = 0;
  WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, static_cast<DWORD>(len), &written, nullptr);
  TerminateProcess(GetCurrentProcess(), kAbortExitCode);
  return EXCEPTION_CONTINUE_SEARCH;  // not reached
}

}  // namespace

void ensure_overflow_handler() {
  static std::once_flag installed;
  // First in line (1): vectored handlers run before any frame-based handler, so a
  // catch (...) in the coroutine cannot swallow the overflow.
  std::call_once(installed, [] { AddVectoredExceptionHandler(1, &on_exception); });
}

}  // namespace spindle::detail
