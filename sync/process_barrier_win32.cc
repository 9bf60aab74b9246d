// sync/process_barrier.h on Windows: FlushProcessWriteBuffers (Vista and later)
// makes every processor running a thread of the process flush its write queue
// (an inter-processor interrupt, which serialises each of them), the same
// guarantee membarrier gives on Linux.
#include <windows.h>

#include "spindle/sync/process_barrier.h"

namespace spindle::detail {

bool process_barrier_register() {
  // Wine (8.0, what CI runs the Windows tests under) implements
  // NtFlushProcessWriteBuffers as a stub that returns without ordering anything
  // (checked by disassembling its ntdll.so). There, fences on both sides.
  const HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  if (ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr) return false;
  return true;
}

bool process_barrier() {
  FlushProcessWriteBuffers();
  return true;
}

}  // namespace spindle::detail
