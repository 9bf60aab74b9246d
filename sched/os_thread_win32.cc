// sched/os_thread.h on Windows (mingw-w64 with winpthreads, whose std::thread
// handle is a pthread_t; pthread_gethandle gives the Win32 HANDLE).
#include <windows.h>
#include <pthread.h>
#include <processthreadsapi.h>

#include <string>

#include "spindle/sched/os_thread.h"

namespace spindle::detail {
namespace {

constexpr int kGroupSize = 64;  // processors per group (bits of a KAFFINITY)

HANDLE win32_handle(std::thread& thread) { return pthread_gethandle(thread.native_handle()); }

void append_mask(std::vector<int>& cpus, WORD group, KAFFINITY mask) {
  for (int bit = 0; bit < kGroupSize; ++bit) {
    if (mask & (KAFFINITY{1} << bit)) cpus.push_back(group * kGroupSize + bit);
  }
}

}  // namespace

bool pin_thread(std::thread& thread, const std::vector<int>& cpus) {
  if (cpus.empty()) return false;
  GROUP_AFFINITY affinity{};
  affinity.Group = static_cast<WORD>(cpus.front() / kGroupSize);
  for (int cpu : cpus) {
    if (cpu / kGroupSize == affinity.Group) affinity.Mask |= KAFFINITY{1} << (cpu % kGroupSize);
  }
  return SetThreadGroupAffinity(win32_handle(thread), &affinity, nullptr) != 0;
}

std::vector<int> thread_affinity(std::thread& thread) {
  GROUP_AFFINITY affinity{};
  std::vector<int> cpus;
  if (GetThreadGroupAffinity(win32_handle(thread), &affinity)) append_mask(cpus, affinity.Group, affinity.Mask);
  return cpus;
}

std::vector<int> process_affinity() {
  std::vector<int> cpus;
  DWORD_PTR process_mask = 0, system_mask = 0;
  // A process in one group (the common case) has a mask for it; a multi-group
  // process reports 0 here and may use every active processor.
  if (GetProcessAffinityMask(GetCurrentProcess(), &process_mask, &system_mask) && process_mask != 0) {
    USHORT group = 0;
    USHORT count = 1;
    if (!GetProcessGroupAffinity(GetCurrentProcess(), &count, &group)) group = 0;
    append_mask(cpus, group, process_mask);
  } else {
    const WORD groups = GetActiveProcessorGroupCount();
    for (WORD g = 0; g < groups; ++g) {
      const DWORD n = GetActiveProcessorCount(g);
      for (DWORD i = 0; i < n; ++i) cpus.push_back(g * kGroupSize + static_cast<int>(i));
    }
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

void set_current_thread_name(const std::string& name) {
  // SetThreadDescription exists from Windows 10 1607 on: looked up at run time so
  // that older systems simply go without names.
  using SetDescription = HRESULT(WINAPI*)(HANDLE, PCWSTR);
  static const auto set_description = reinterpret_cast<SetDescription>(
      reinterpret_cast<void*>(GetProcAddress(GetModuleHandleW(L"kernel32.dll"), "SetThreadDescription")));
  if (set_description == nullptr) return;
  const int n = MultiByteToWideChar(CP_UTF8, 0, name.c_str(), -1, nullptr, 0);
  if (n <= 0) return;
  std::wstring wide(static_cast<std::size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, name.c_str(), -1, wide.data(), n);
  set_description(GetCurrentThread(), wide.c_str());
}

std::uint64_t current_os_thread_id() { return GetCurrentThreadId(); }

double process_cpu_seconds() {
  FILETIME creation, exit, kernel, user;
  if (!GetProcessTimes(GetCurrentProcess(), &creation, &exit, &kernel, &user)) return 0;
  auto seconds = [](const FILETIME& f) {
    const ULONGLONG ticks = (static_cast<ULONGLONG>(f.dwHighDateTime) << 32) | f.dwLowDateTime;
    return static_cast<double>(ticks) * 1e-7;  // 100 ns units
  };
  return seconds(kernel) + seconds(user);
}

int current_cpu() {
  PROCESSOR_NUMBER n{};
  GetCurrentProcessorNumberEx(&n);
  return n.Group * kGroupSize + n.Number;
}

// Not done on Windows: returns false (the worker spins where it is).
bool move_off_cpu(int) { return false; }

}  // namespace spindle::detail
