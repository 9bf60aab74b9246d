// The OS seam for threads: pinning, affinity, names, ids. One file per OS:
// sched/os_thread_linux.cc (pthread / sched_getaffinity, gettid) and
// sched/os_thread_win32.cc (SetThreadGroupAffinity, SetThreadDescription).
//
// CPUs are numbered as Topology numbers PUs: on Linux the OS's CPU numbers; on
// Windows group * 64 + the processor's number within its processor group.
#pragma once

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace spindle::detail {

// Restricts `thread` to `cpus` (non-empty). On Windows a thread runs in one
// processor group: CPUs outside the group of cpus.front() are ignored. Returns
// false if the OS refused.
bool pin_thread(std::thread& thread, const std::vector<int>& cpus);

// The CPUs `thread` may run on, ascending; empty if the OS does not say.
std::vector<int> thread_affinity(std::thread& thread);

// The CPUs this process may run on, ascending (at least one).
std::vector<int> process_affinity();

// The CPU the calling thread runs on now (it may move at any time), or -1;
// numbered as above.
int current_cpu();

// Moves the calling thread off `cpu` now, if its affinity allows another CPU, and
// leaves its affinity as it was (it is narrowed for the move and restored: the
// thread stays where the move put it until the OS moves it again). Returns false
// if it did not move (`cpu` is not the current one, no other CPU is allowed, or
// the OS refused). For an unpinned worker that would otherwise share a CPU with
// the thread it waits for work from (Scheduler's anticipate_bursts). Linux only;
// on Windows it returns false.
bool move_off_cpu(int cpu);

// Names the calling thread for debuggers and profilers (Linux truncates to 15
// characters).
void set_current_thread_name(const std::string& name);

// The calling thread's OS id (gettid / GetCurrentThreadId). Never cached by the
// compiler: tests compare it across fiber switches that may change threads.
[[gnu::noinline]] std::uint64_t current_os_thread_id();

// CPU time (user + system) consumed by the whole process so far, in seconds.
double process_cpu_seconds();

// Calls fn(arg) on the calling thread when it ends (std::thread or any pthread;
// registrations run in reverse order). Use this, not a thread_local with a
// destructor, for per-thread state that must be cleaned up: with mingw-w64's
// emulated TLS, a thread_local's storage is freed before its destructor runs
// (winpthreads' key destructors free it; the C++ thread-exit destructors run
// later), so such a destructor writes freed heap. fn must reach its state
// through `arg` alone: other thread_locals may already be gone when it runs.
// (sched/thread_exit.cc: a pthread key, on Linux and on mingw's winpthreads.)
void at_thread_exit(void (*fn)(void*), void* arg);

}  // namespace spindle::detail
