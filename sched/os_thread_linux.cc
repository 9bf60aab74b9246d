// sched/os_thread.h on Linux.
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spindle/sched/os_thread.h"

namespace spindle::detail {
namespace {

std::vector<int> cpus_of(const cpu_set_t& set) {
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

}  // namespace

bool pin_thread(std::thread& thread, const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) {
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
  }
  return pthread_setaffinity_np(thread.native_handle(), sizeof(set), &set) == 0;
}

std::vector<int> thread_affinity(std::thread& thread) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (pthread_getaffinity_np(thread.native_handle(), sizeof(set), &set) != 0) return {};
  return cpus_of(set);
}

std::vector<int> process_affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    std::vector<int> cpus = cpus_of(set);
    if (!cpus.empty()) return cpus;
  }
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  std::vector<int> cpus;
  for (int i = 0; i < (n > 0 ? n : 1); ++i) cpus.push_back(i);
  return cpus;
}

void set_current_thread_name(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

std::uint64_t current_os_thread_id() { return static_cast<std::uint64_t>(syscall(SYS_gettid)); }

double process_cpu_seconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(r.ru_utime) + seconds(r.ru_stime);
}

int current_cpu() { return sched_getcpu(); }  // vDSO (or rseq): no system call

// sched_setaffinity migrates a running thread at once when its CPU leaves the
// mask; restoring the mask afterwards does not move it back.
bool move_off_cpu(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getcpu() != cpu) return false;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || !CPU_ISSET(cpu, &allowed) || CPU_COUNT(&allowed) < 2) {
    return false;
  }
  cpu_set_t others = allowed;
  CPU_CLR(cpu, &others);
  if (sched_setaffinity(0, sizeof(others), &others) != 0) return false;
  sched_setaffinity(0, sizeof(allowed), &allowed);  // cannot fail: it was accepted before
  return sched_getcpu() != cpu;
}

}  // namespace spindle::detail
