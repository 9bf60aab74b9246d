// Stack on Windows: one VirtualAlloc reservation laid out like a Windows thread
// stack, so that the system's own stack-overflow machinery (and wine's, which
// follows it) works on coroutine stacks:
//
//   reservation base                                                       top
//   | reserve (kWin32OverflowReserve) | guard page    | usable, committed RW |
//   | MEM_RESERVE only                | RW+PAGE_GUARD |                      |
//   ^ TEB.DeallocationStack           ^ mapping_      ^ bottom()             ^ top()
//                                                     ^ TIB StackLimit       ^ ~StackBase
//
// (StackBase is the top of the context's frames: a Coroutine keeps its callable
// above them.)
//
// While a coroutine runs, the switch (coro/arch/x86_64_win64.S) points the TIB at
// these addresses. A touch of the guard page then makes the system clear its guard
// bit, find that no room for a new guard page is left above the reserve, commit
// what the thread's stack guarantee asks for, and raise STATUS_STACK_OVERFLOW on
// the now-accessible memory, where coro/overflow_win32.cc reports it. A guard page
// with PAGE_NOACCESS instead would leave the exception dispatcher no stack to run
// on, and the process would vanish without a word.
//
// Frames larger than a page probe their pages top-down (gcc's ___chkstk_ms), so
// the guard page is always the first inaccessible page an overflow touches.
// Checked under wine, which follows the Windows rules for thread stacks here.
//
// The usable range is committed up front (commit charge, not memory: Windows
// backs a committed page only when it is first touched).
#include <windows.h>

#include <stdexcept>
#include <string>
#include <system_error>

#include "spindle/coro/stack.h"
#include "spindle/coro/stack_platform.h"

namespace spindle {
namespace {

[[noreturn]] void throw_last_error(const std::string& what) {
  throw std::system_error(static_cast<int>(GetLastError()), std::system_category(), what);
}

}  // namespace

namespace detail {
void* stack_reservation(const Stack& stack) {
  return static_cast<char*>(stack.bottom()) - Stack::guard_size() - kWin32OverflowReserve;
}
}  // namespace detail

std::size_t Stack::page_size() {
  static const std::size_t size = [] {
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return static_cast<std::size_t>(info.dwPageSize);
  }();
  return size;
}

std::size_t Stack::guard_size() { return page_size(); }

bool Stack::guard_splits_mapping() { return false; }

Stack Stack::allocate(std::size_t usable_size) {
  if (usable_size == 0 || usable_size > kMaxStackSize) {
    throw std::invalid_argument("spindle::Stack: size " + std::to_string(usable_size) +
                                " is outside 1.." + std::to_string(kMaxStackSize) + " bytes");
  }
  static_assert(detail::kWin32OverflowReserve % 4096 == 0);
  const std::size_t page = page_size();
  const std::size_t usable = (usable_size + page - 1) / page * page;
  const std::size_t total = detail::kWin32OverflowReserve + guard_size() + usable;
  auto* base = static_cast<char*>(VirtualAlloc(nullptr, total, MEM_RESERVE, PAGE_NOACCESS));
  if (base == nullptr) throw_last_error("spindle::Stack: reserving " + std::to_string(total) + " bytes");
  char* guard = base + detail::kWin32OverflowReserve;
  if (VirtualAlloc(guard + guard_size(), usable, MEM_COMMIT, PAGE_READWRITE) == nullptr ||
      VirtualAlloc(guard, guard_size(), MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD) == nullptr) {
    const DWORD err = GetLastError();
    VirtualFree(base, 0, MEM_RELEASE);
    SetLastError(err);
    throw_last_error("spindle::Stack: committing " + std::to_string(usable) + " bytes");
  }
  detail::count_stack_mapping();
  Stack s;
  s.mapping_ = guard;
  s.mapped_size_ = guard_size() + usable;
  return s;
}

void Stack::release() noexcept {
  if (mapping_ == nullptr) return;
  VirtualFree(detail::stack_reservation(*this), 0, MEM_RELEASE);
  mapping_ = nullptr;
  mapped_size_ = 0;
  tsan_fiber_ = nullptr;
}

}  // namespace spindle
